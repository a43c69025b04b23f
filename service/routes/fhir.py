"""`POST /fhir/RiskAssessment/$evaluate`: a FHIR Bundle in, a Bundle of RiskAssessments out.

A type-level FHIR operation on RiskAssessment. Its one input is the client's resources: a
Bundle posted as the body, or a Parameters resource whose `bundle` parameter holds it. Its
one output is returned as the body itself, as FHIR does for an operation whose single
output is a resource: a `collection` Bundle of two RiskAssessments, dropout then violence.

Errors are OperationOutcomes (`application/fhir+json`), each issue with the FHIRPath of the
element at fault: 400 for JSON or FHIR that does not parse, 415 for a body that is not
FHIR JSON, 422 for valid FHIR that breaks the data contract or cannot be predicted from,
503 while no model is loaded. None of them repeats a submitted value.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.fhir import bundle_from_history
from data_schemas.records import ClientHistory
from service.deps import AuditNotesDep, HolderDep, RequestIdDep
from service.ehr.fhir import (
    FHIR_JSON,
    OPERATION_OUTCOME_SCHEMA,
    FhirRefusedError,
    bundle_json,
    evaluate_bundle,
    fhir_response,
    outcome_message,
    risk_assessment_bundle,
)
from service.model.holder import ModelNotReadyError

router = APIRouter(prefix="/fhir", tags=["fhir"])

EXAMPLE_BUNDLE: dict[str, Any] = json.loads(
    bundle_from_history(ClientHistory.model_validate(EXAMPLE_HISTORY)).model_dump_json()
)


@router.post(
    "/RiskAssessment/$evaluate",
    summary="FHIR R4: dropout and violence RiskAssessments for the client in a Bundle",
    response_class=Response,
    responses={
        200: {
            "description": "A collection Bundle of two RiskAssessments (dropout, violence)",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        },
        400: {
            "description": "Not JSON or not valid FHIR R4",
            "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME_SCHEMA}},
        },
        415: {
            "description": "Not FHIR JSON",
            "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME_SCHEMA}},
        },
        422: {
            "description": "Valid FHIR that breaks the data contract or cannot be predicted from",
            "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME_SCHEMA}},
        },
        503: {
            "description": "No model is loaded",
            "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME_SCHEMA}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Bundle with the Patient, EpisodeOfCare, Practitioner, session "
            "Encounters and rating Observations or QuestionnaireResponses (see "
            "data_schemas/fhir_mapping.md), or a Parameters resource with it as 'bundle'.",
            "content": {
                FHIR_JSON: {"schema": {"type": "object"}, "example": EXAMPLE_BUNDLE},
            },
        }
    },
)
async def evaluate_risk(
    request: Request, holder: HolderDep, request_id: RequestIdDep, audit: AuditNotesDep
) -> Response:
    """Reads the client's history from FHIR R4 resources, predicts both outcomes, and answers
    with one RiskAssessment each, carrying the probability, band, factors and model."""
    try:
        data = bundle_json(await request.body(), request.headers.get("content-type", ""))
        served = holder.get()
        source, answer = await run_in_threadpool(evaluate_bundle, served, data, request_id)
    except FhirRefusedError as refused:
        return refused.response()
    except ModelNotReadyError as error:
        response = fhir_response(outcome_message(str(error), code="transient"), 503)
        response.headers["Retry-After"] = "30"
        return response
    audit.add_prediction(source.history.client.client_id, answer)
    return fhir_response(risk_assessment_bundle(answer, source))
