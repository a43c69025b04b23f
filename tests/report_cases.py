"""Client histories that put the report's layout under strain."""

from __future__ import annotations

import copy
from typing import Any

from data_schemas.examples import EXAMPLE_HISTORY


def stress_history() -> dict[str, Any]:
    """A crowded case: long ids, six sessions (one past the last landmark), two misses, a
    rupture, a therapist's rating and every risk marker, to test that the page still fits."""
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"].update(
        client_id="client-with-a-rather-long-pseudonymous-identifier-0001",
        site_id="north-eastern-outpatient-site-b",
        age_years=16,
        interpreter_used=True,
        history_of_violence=True,
        substance_misuse=True,
        primary_problem="personality",
    )
    rated = {"attended": True, "alliance_instrument": "TASC-R"}
    body["sessions"] = [
        {"session_date": "2026-03-09", **rated, "alliance_score": 44, "anxiety_gad7": 18},
        {"session_date": "2026-03-16", "attended": False},
        {"session_date": "2026-03-23", **rated, "alliance_score": 30, "pre_session_distress": 9},
        {
            "session_date": "2026-03-30",
            **rated,
            "alliance_score": 38,
            "alliance_rater": "therapist",
        },
        {"session_date": "2026-04-06", "attended": False},
        {"session_date": "2026-04-13", **rated, "alliance_score": 20, "anxiety_gad7": 21},
    ]
    for number, session in enumerate(body["sessions"], start=1):
        session["session_number"] = number
    return body
