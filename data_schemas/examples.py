"""Made-up example records: OpenAPI examples, the service's start-up self-check, docs.

Every value here is invented; none comes from a person.
"""

from __future__ import annotations

from typing import Any

EXAMPLE_HISTORY: dict[str, Any] = {
    "client": {
        "client_id": "example-client-0001",
        "therapist_id": "example-therapist-01",
        "site_id": "example-site-a",
        "intake_date": "2026-03-02",
        "age_years": 29,
        "sex": "F",
        "interpreter_used": False,
        "prior_episodes": 1,
        "history_of_violence": False,
        "substance_misuse": False,
        "primary_problem": "anxiety",
        "setting": "outpatient",
    },
    "therapist": {
        "therapist_id": "example-therapist-01",
        "years_experience": 3.5,
        "profession": "psychologist",
        "orientation": "cbt",
        "caseload": 24,
    },
    "sessions": [
        {
            "session_number": 1,
            "session_date": "2026-03-09",
            "attended": True,
            "alliance_instrument": "WAI-SR",
            "alliance_score": 46,
            "alliance_rater": "client",
            "anxiety_gad7": 14,
            "pre_session_distress": 7,
        },
        {
            "session_number": 2,
            "session_date": "2026-03-16",
            "attended": True,
            "alliance_instrument": "WAI-SR",
            "alliance_score": 48,
            "alliance_rater": "client",
            "anxiety_gad7": 13,
            "pre_session_distress": 6,
        },
        {
            "session_number": 3,
            "session_date": "2026-03-23",
            "attended": True,
            "alliance_instrument": "WAI-SR",
            "alliance_score": 36,
            "alliance_rater": "client",
            "anxiety_gad7": 15,
            "pre_session_distress": 8,
        },
    ],
}
