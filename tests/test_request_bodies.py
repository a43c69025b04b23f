"""A client history read in one pass is the history the two-step reading gives, or the
body is read the two-step way: the same value, or the same errors, for any body."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from service.answers.bodies import reparsed, strict

#: JSON values a caller may put where the contract asks for something else, or the same.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 24.0, 1e2, 46.000000000000001, 1e300, 5e-324]),
    st.text(max_size=12),
    st.sampled_from(["2026-03-09", "2026-02-30", "WAI-SR", "client", "F", "\u00e9\ud7ff"]),
    st.lists(st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document where a value sits."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


PATHS = _paths(EXAMPLE_HISTORY)


def _holds(place: Any, step: Any) -> bool:
    if isinstance(place, dict):
        return step in place
    return isinstance(place, list) and isinstance(step, int) and step < len(place)


def _replace(document: Any, path: tuple, value: Any) -> None:
    """Put `value` at `path`, if an earlier change left that place in the document."""
    place = document
    for step in path[:-1]:
        if not _holds(place, step):
            return
        place = place[step]
    if _holds(place, path[-1]):
        place[path[-1]] = value


def _read(read: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", read(ClientHistory, body).model_dump()
    except RequestValidationError as error:
        return "errors", error.errors()


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), ODD_VALUES), max_size=3),
    number_text=st.sampled_from(["{}", "{}.0", "{}e0", "{}.000"]),
    indent=st.sampled_from([None, 2]),
)
def test_a_history_reads_the_same_in_one_pass_as_in_two(
    changes: list[tuple[tuple, Any]], number_text: str, indent: int | None
) -> None:
    document = copy.deepcopy(EXAMPLE_HISTORY)
    for path, value in changes:
        _replace(document, path, value)
    body = json.dumps(document, indent=indent)
    # Integers written as JSON numbers with a fraction or exponent, which JSON Schema allows.
    body = body.replace('"age_years": 29', '"age_years": ' + number_text.format(29))
    one_pass = _read(lambda model, data: strict(model, data, every_field_typed=True), body.encode())
    assert one_pass == _read(reparsed, body.encode())
