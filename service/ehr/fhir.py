"""FHIR R4 in and out: a Bundle evaluated, the answer as RiskAssessments, OperationOutcomes.

`RiskAssessment/$evaluate` takes the client's resources as a Bundle, or as a Parameters
resource whose `bundle` parameter holds it; `evaluate_bundle` reads the history from it
and predicts. A call that cannot be answered raises `FhirRefusedError`, carrying the
OperationOutcome and its HTTP status.

Each RiskAssessment says who it is about (subject), when (occurrenceDateTime), by which
model (method, with the registered version), what is predicted (prediction.outcome), how
likely (probabilityDecimal: the calibrated probability on the 0-1 scale the JSON API uses,
with its band as qualitativeRisk), from what (basis: the rating Observations or
QuestionnaireResponses of the sessions used), and why, in plain language (note).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from fastapi import Response
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from data_schemas.fhir import (
    FhirHistory,
    FhirInputError,
    FhirIssue,
    codes,
    entries,
    history_from_resources,
    parse_bundle,
)
from models.predictor import NotPredictableError
from service.answers.predictions import episode_factors, predict
from service.answers.schemas import Contribution, OutcomeResult, PredictionResponse
from service.answers.wording import OUTCOME_PHRASES, OUTCOME_TITLES
from service.model.holder import ServedModel

FHIR_JSON = "application/fhir+json"
#: How the API description names an OperationOutcome (FHIR R4 defines its content).
OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A FHIR R4 OperationOutcome",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}
#: Media types a Bundle may be posted as.
ACCEPTED_TYPES = (FHIR_JSON, "application/json")
#: Identifier system of the request that produced a RiskAssessment (X-Request-ID).
REQUEST_ID_SYSTEM = f"{codes.PRODUCT_BASE}/NamingSystem/request-id"
#: How many factors a note or card names: enough to explain, few enough to read.
TOP_FACTORS = 3


def top_factors(result: OutcomeResult, count: int = TOP_FACTORS) -> list[Contribution]:
    """The factors of this episode so far that move this estimate most, largest first:
    background (age, sex, setting, therapist) is never named in a note or a card."""
    return episode_factors(result.explanation.contributions)[:count]


def factor_sentence(factor: Contribution) -> str:
    """'Alliance score at the latest session (36): raises the estimate.'"""
    return f"{factor.label} ({factor.display_value}): {factor.direction} the estimate."


def model_text(answer: PredictionResponse) -> str:
    model = answer.model
    text = f"{model.name} version {model.version or 'unregistered'}"
    if model.synthetic_data:
        text += ", trained on synthetic data"
    return text


def _note(answer: PredictionResponse, result: OutcomeResult) -> list[dict[str, str]]:
    factors = "\n".join(f"- {factor_sentence(f)}" for f in top_factors(result))
    heading = "Of this episode so far, what drives this estimate most"
    notes = [{"text": f"{heading}:\n\n{factors}"}] if factors else []
    notes += [
        {"text": text} for text in (*answer.notices, *answer.warnings, *answer.withheld.values())
    ]
    return notes


def risk_assessment(
    answer: PredictionResponse,
    outcome: str,
    source: FhirHistory,
    *,
    occurred: dt.datetime,
) -> dict[str, Any]:
    """One outcome's RiskAssessment as FHIR JSON (validated when the Bundle is built)."""
    result = answer.predictions[outcome]
    model = answer.model
    landmark = answer.as_of_session
    assessment: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": str(uuid.uuid4()),
        "identifier": [{"system": REQUEST_ID_SYSTEM, "value": f"{answer.request_id}-{outcome}"}],
        "status": "final",
        "subject": {"reference": source.patient.reference},
        "encounter": {"reference": source.encounters[landmark - 1].reference},
        "occurrenceDateTime": occurred.isoformat(timespec="seconds"),
        "method": {
            "coding": [
                {
                    "system": codes.RISK_MODEL,
                    "code": model.name,
                    "version": model.version or "unregistered",
                    "display": model_text(answer),
                }
            ],
            "text": f"{model_text(answer)}; assessed after session {landmark}",
        },
        "prediction": [
            {
                "outcome": {
                    "coding": [
                        {
                            "system": codes.RISK_OUTCOME,
                            "code": outcome,
                            "display": OUTCOME_TITLES[outcome],
                        }
                    ],
                    "text": OUTCOME_PHRASES[outcome],
                },
                "probabilityDecimal": result.probability,
                "qualitativeRisk": {
                    "coding": [
                        {
                            "system": codes.RISK_PROBABILITY,
                            "code": result.band,
                            "display": codes.QUALITATIVE_RISK_DISPLAY[result.band],
                        }
                    ],
                    "text": result.band,
                },
                "rationale": result.summary,
            }
        ],
        "note": _note(answer, result),
    }
    basis = source.basis(landmark)
    if basis:
        assessment["basis"] = [{"reference": reference} for reference in basis]
    return assessment


def risk_assessment_bundle(
    answer: PredictionResponse, source: FhirHistory, *, occurred: dt.datetime | None = None
) -> Bundle:
    """A `collection` Bundle of the RiskAssessments, dropout first."""
    occurred = occurred or dt.datetime.now(dt.UTC)
    resources = [
        risk_assessment(answer, outcome, source, occurred=occurred)
        for outcome in answer.predictions
    ]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": answer.request_id,
            "type": "collection",
            "timestamp": occurred.isoformat(timespec="seconds"),
            "entry": [
                {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
                for resource in resources
            ],
        }
    )


def operation_outcome(issues: list[FhirIssue], *, severity: str = "error") -> OperationOutcome:
    """Issues as an OperationOutcome; `expression` holds each issue's FHIRPath location."""
    return OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": severity,
                    "code": issue.code,
                    "diagnostics": issue.message,
                    "expression": [issue.expression],
                }
                for issue in issues
            ],
        }
    )


def outcome_message(message: str, *, code: str = "processing", where: str = "") -> OperationOutcome:
    """A single-issue OperationOutcome, for errors that are not about one element."""
    issue = {"severity": "error", "code": code, "diagnostics": message}
    if where:
        issue["expression"] = [where]
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})


def fhir_response(resource: Any, status: int = 200) -> Response:
    """A FHIR resource as the body, in FHIR's own media type."""
    return Response(resource.model_dump_json(), status_code=status, media_type=FHIR_JSON)


class FhirRefusedError(Exception):
    """The call cannot be answered: `outcome` says why and where, `status` is the HTTP status."""

    def __init__(self, status: int, outcome: OperationOutcome) -> None:
        super().__init__(status)
        self.status = status
        self.outcome = outcome

    def response(self) -> Response:
        return fhir_response(self.outcome, self.status)


def bundle_json(body: bytes, content_type: str) -> Any:
    """The Bundle JSON from a Bundle or a Parameters body (415 or 400 if neither)."""
    if (
        content_type
        and content_type.split(";", maxsplit=1)[0].strip().lower() not in ACCEPTED_TYPES
    ):
        raise FhirRefusedError(
            415, outcome_message("send the Bundle as application/fhir+json", code="not-supported")
        )
    try:
        data = json.loads(body)
    except ValueError:
        raise FhirRefusedError(
            400, outcome_message("the body is not JSON", code="structure")
        ) from None
    if isinstance(data, dict) and data.get("resourceType") == "Parameters":
        for parameter in data.get("parameter") or []:
            if isinstance(parameter, dict) and parameter.get("name") == "bundle":
                return parameter.get("resource")
        raise FhirRefusedError(
            400,
            outcome_message(
                "the Parameters resource needs a parameter named 'bundle' holding the Bundle",
                code="required",
                where="Parameters.parameter",
            ),
        )
    return data


def evaluate_bundle(
    served: ServedModel, data: Any, request_id: str
) -> tuple[FhirHistory, PredictionResponse]:
    """Parse (400 on failure), read the history (422), and predict (422 if not possible)."""
    try:
        bundle = parse_bundle(data)
    except FhirInputError as error:
        raise FhirRefusedError(400, operation_outcome(error.issues)) from None
    try:
        source = history_from_resources(entries(bundle, "Bundle"))
        return source, predict(served, source.history, request_id)
    except FhirInputError as error:
        raise FhirRefusedError(422, operation_outcome(error.issues)) from None
    except NotPredictableError as error:
        raise FhirRefusedError(422, outcome_message(str(error))) from None
