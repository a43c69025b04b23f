"""The API description tells the truth: schemathesis, with every check, finds no request the
service answers differently from what its OpenAPI description says.

Every operation gets examples, boundary cases (coverage) and random cases (fuzzing), both
valid and invalid by the schema, sent with valid credentials: no 5xx, every status and body
documented, only documented problem types, valid data accepted and invalid data refused,
credentials really checked. The example count is bounded (`FUZZ_EXAMPLES`, derandomized)
to keep `make test` short; the README gives the longer, randomized run for a release.

Two kinds of rule are beyond JSON Schema, and the description states them in words:
- rules across fields of a client history (the two therapist ids are equal; sessions are
  numbered 1, 2, 3, ... and dated after intake, each after the one before). Schema-valid
  histories are made to follow them before they are sent, so "valid data accepted" still
  holds the service to everything else;
- the content of FHIR resources (FHIR R4 and the profile in `data_schemas/fhir_mapping.md`).
  The FHIR operation and the CDS service call may refuse schema-valid bodies for their
  FHIR content with the OperationOutcomes they document (400, 422), and a CDS call may get
  412 when the EHR gave neither the data nor a FHIR server to read them from.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import httpx
import pytest
import schemathesis
from credentials import CDS_SETTINGS, OPS_KEY, cds_token, secured_settings
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig

from service.app import create_app
from training.pipeline import TrainingOutcome

#: A release run sets ALLIANCE_RISK_FUZZ_EXAMPLES (e.g. 2000) and gets fresh random examples.
RELEASE_RUN = "ALLIANCE_RISK_FUZZ_EXAMPLES" in os.environ
FUZZ_EXAMPLES = int(os.environ.get("ALLIANCE_RISK_FUZZ_EXAMPLES", "25"))
#: What schemathesis accepts for valid data by default.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
HISTORY_PATHS = ("/v1/predictions", "/v1/reports")

CONFIG = SchemathesisConfig.from_dict(
    {
        "suppress-health-check": ["all"],
        "generation": {
            "mode": "all",
            "max-examples": FUZZ_EXAMPLES,
            "deterministic": not RELEASE_RUN,
        },
        "operations": [
            # It takes no input: more cases would only reload the same model again.
            {"include-path": "/admin/reload", "generation": {"max-examples": 3}},
            {
                "include-path": "/fhir/RiskAssessment/$evaluate",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400", "422"]}
                },
            },
            {
                "include-path": "/cds-services/{service_id}",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "412", "422"]}
                },
            },
        ],
    }
)


#: The description, read from an app built without side effects (no model, no files); the
#: requests go to `served_app`, which has the same settings apart from its audit database.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(
        secured_settings(
            audit_database_url="sqlite://", audit_hmac_key="description-only-0123", **CDS_SETTINGS
        )
    ),
    config=CONFIG,
)


@pytest.fixture(scope="module")
def served_app(trained_model: TrainingOutcome) -> FastAPI:
    return create_app(secured_settings(rate_limit_per_minute=0, **CDS_SETTINGS))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated CDS calls name arbitrary FHIR servers: answer them all in-process, 404."""
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    real = httpx.AsyncClient

    class OffTheNetwork(real):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(transport=transport, **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", OffTheNetwork)


def credentials(case: schemathesis.Case) -> dict[str, str]:
    path = case.formatted_path
    if path.startswith("/cds-services/"):
        return {"Authorization": f"Bearer {cds_token(path)}"}
    return {"X-API-Key": OPS_KEY}


def follow_rules_across_fields(history: Any) -> None:
    """Make a schema-valid history follow the rules the description states in words."""
    if not isinstance(history, dict):
        return
    client, therapist = history.get("client"), history.get("therapist")
    if isinstance(client, dict) and isinstance(therapist, dict):
        therapist["therapist_id"] = client["therapist_id"]
        intake = min(dt.date.fromisoformat(client["intake_date"]), dt.date(2100, 1, 1))
        client["intake_date"] = intake.isoformat()
        for number, session in enumerate(history.get("sessions", []), start=1):
            session["session_number"] = number
            session["session_date"] = (intake + dt.timedelta(days=7 * number)).isoformat()


@schema.parametrize()
def test_every_operation_answers_as_its_description_says(
    case: schemathesis.Case, served_app: FastAPI
) -> None:
    if (
        case.meta is not None
        and case.meta.generation.mode.is_positive
        and case.operation.path in HISTORY_PATHS
    ):
        follow_rules_across_fields(case.body)
    case.call_and_validate(headers=credentials(case), app=served_app)
