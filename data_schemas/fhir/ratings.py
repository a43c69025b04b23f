"""Session ratings from FHIR: alliance, GAD-7 and pre-session distress.

A rating comes either as an Observation coded with the product's instrument code system
(WAI-SR, SRS, TASC-R, pre-session distress) or LOINC (GAD-7 total 70274-6, or the GAD-7
panel 69737-5 with its total as a component), or as a QuestionnaireResponse to one of the
instruments' questionnaires whose total-score item is answered. Anything else, and any
rating not final, is not a rating of ours and is passed over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from data_schemas import ranges
from data_schemas.fhir import codes
from data_schemas.fhir.resources import Located, reference_key

RatingKind = Literal["alliance", "gad7", "distress"]


@dataclass(frozen=True)
class Rating:
    """One score, the session it claims to belong to, and where it came from."""

    kind: RatingKind
    instrument: str | None
    value: int | float
    rater: str
    encounter: str | None
    day: dt.date | None
    source: Located
    value_path: str


def _number(value: Decimal | int | float) -> int | float:
    """Whole numbers stay integers, so a GAD-7 of 14.0 reads as the integer 14."""
    number = float(value)
    return int(number) if number.is_integer() else number


def calendar_day(value: Any) -> dt.date | None:
    """The date of a FHIR date or dateTime (None for anything else), for matching sessions."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


def _rater(reference: str | None) -> str:
    """Ratings recorded by a practitioner are the therapist's; all others the client's."""
    if reference and reference_key(reference).startswith("Practitioner"):
        return ranges.AllianceRater.THERAPIST.value
    return ranges.AllianceRater.CLIENT.value


def _codings(concept: Any) -> list[Any]:
    """The codings of a CodeableConcept that may be absent."""
    return (concept.coding if concept is not None else None) or []


def _kind_of_coding(system: str | None, code: str | None) -> tuple[RatingKind, str | None] | None:
    if system == codes.ALLIANCE_INSTRUMENTS:
        if code in ranges.INSTRUMENTS:
            return "alliance", code
        if code == codes.PRE_SESSION_DISTRESS_CODE:
            return "distress", None
    if system == codes.LOINC and code in (codes.GAD7_TOTAL, codes.GAD7_PANEL):
        return "gad7", code
    return None


def _observation_kind(observation: Any) -> tuple[RatingKind, str | None] | None:
    for coding in _codings(observation.code):
        found = _kind_of_coding(coding.system, coding.code)
        if found is not None:
            return found
    return None


def _value_of(element: Any) -> tuple[int | float, str] | None:
    """The numeric value of an Observation or component, and its element name."""
    if element.valueQuantity is not None and element.valueQuantity.value is not None:
        return _number(element.valueQuantity.value), "valueQuantity.value"
    if element.valueInteger is not None:
        return int(element.valueInteger), "valueInteger"
    return None


def _observation_rating(located: Located) -> Rating | None:
    observation = located.resource
    if observation.status not in codes.USABLE_OBSERVATION_STATUSES:
        return None
    kind_code = _observation_kind(observation)
    if kind_code is None:
        return None
    kind, code = kind_code
    found = _value_of(observation)
    if found is not None:
        value, path = found
        value_path = f"{located.where}.{path}"
    elif code == codes.GAD7_PANEL:
        total = next(
            (
                (index, _value_of(component))
                for index, component in enumerate(observation.component or [])
                if any(
                    c.system == codes.LOINC and c.code == codes.GAD7_TOTAL
                    for c in _codings(component.code)
                )
                and _value_of(component) is not None
            ),
            None,
        )
        if total is None:
            return None
        index, (value, path) = total
        value_path = f"{located.where}.component[{index}].{path}"
    else:
        return None
    performer = (observation.performer or [None])[0]
    return Rating(
        kind=kind,
        instrument=code if kind == "alliance" else None,
        value=value,
        rater=_rater(performer.reference if performer else None),
        encounter=observation.encounter.reference if observation.encounter else None,
        day=calendar_day(observation.effectiveDateTime)
        or calendar_day(observation.effectivePeriod.start if observation.effectivePeriod else None),
        source=located,
        value_path=value_path,
    )


_QUESTIONNAIRE_KINDS: dict[str, tuple[RatingKind, str | None]] = {
    codes.GAD7_QUESTIONNAIRE: ("gad7", None),
    **{url: ("alliance", code) for code, url in codes.INSTRUMENT_QUESTIONNAIRES.items()},
}


def _total_answer(items: list[Any], path: str) -> tuple[int | float, str] | None:
    """The answer to the total-score item, searched through nested items."""
    for index, item in enumerate(items):
        here = f"{path}.item[{index}]"
        if item.linkId in codes.TOTAL_LINK_IDS:
            for a_index, answer in enumerate(item.answer or []):
                for name in ("valueInteger", "valueDecimal"):
                    value = getattr(answer, name)
                    if value is not None:
                        return _number(value), f"{here}.answer[{a_index}].{name}"
                if answer.valueQuantity is not None and answer.valueQuantity.value is not None:
                    return (
                        _number(answer.valueQuantity.value),
                        f"{here}.answer[{a_index}].valueQuantity.value",
                    )
        found = _total_answer(item.item or [], here)
        if found is not None:
            return found
    return None


def _response_rating(located: Located) -> Rating | None:
    response = located.resource
    if response.status not in codes.USABLE_RESPONSE_STATUSES or not response.questionnaire:
        return None
    kind_code = _QUESTIONNAIRE_KINDS.get(str(response.questionnaire).split("|")[0])
    if kind_code is None:
        return None
    found = _total_answer(response.item or [], located.where)
    if found is None:
        return None
    kind, instrument = kind_code
    value, value_path = found
    return Rating(
        kind=kind,
        instrument=instrument,
        value=value,
        rater=_rater(response.author.reference if response.author else None),
        encounter=response.encounter.reference if response.encounter else None,
        day=calendar_day(response.authored),
        source=located,
        value_path=value_path,
    )


def rating_of(located: Located) -> Rating | None:
    """The rating a resource carries, or None when it is not one of ours."""
    if located.type == "Observation":
        return _observation_rating(located)
    if located.type == "QuestionnaireResponse":
        return _response_rating(located)
    return None
