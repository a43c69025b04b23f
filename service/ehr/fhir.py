"""The API's answer as FHIR R4: one RiskAssessment per outcome, and OperationOutcomes.

Each RiskAssessment says who it is about (subject), when (occurrenceDateTime), by which
model (method, with the registered version), what is predicted (prediction.outcome), how
likely (probabilityDecimal: the calibrated probability on the 0-1 scale the JSON API uses,
with its band as qualitativeRisk), from what (basis: the rating Observations or
QuestionnaireResponses of the sessions used), and why, in plain language (note).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from data_schemas.fhir import FhirHistory, FhirIssue, codes
from service.answers.schemas import Contribution, OutcomeResult, PredictionResponse
from service.answers.wording import OUTCOME_PHRASES, OUTCOME_TITLES

FHIR_JSON = "application/fhir+json"
#: Identifier system of the request that produced a RiskAssessment (X-Request-ID).
REQUEST_ID_SYSTEM = f"{codes.PRODUCT_BASE}/NamingSystem/request-id"
#: How many factors a note or card names: enough to explain, few enough to read.
TOP_FACTORS = 3


def top_factors(result: OutcomeResult, count: int = TOP_FACTORS) -> list[Contribution]:
    """The factors that move this estimate most, largest first (neutral ones left out)."""
    return [c for c in result.explanation.contributions if c.direction != "neutral"][:count]


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
    notes = [{"text": f"What drives this estimate most:\n\n{factors}"}] if factors else []
    notes += [{"text": text} for text in (*answer.notices, *answer.warnings)]
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
