"""CDS Hooks 2.0 endpoints: discovery, the patient-view service, and its feedback.

`GET /cds-services` lists the service and its prefetch templates. `POST
/cds-services/{id}` answers with at most one card; none when the patient has no
psychotherapy episode here or no session yet (the reason is logged, without health data).
`POST /cds-services/{id}/feedback` records what the clinician did with a card.
Errors of the service call carry an OperationOutcome, as CDS Hooks recommends.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from data_schemas.fhir import FhirInputError, NotEnrolledError
from models.predictor import NotPredictableError
from service.answers.bodies import openapi_body
from service.answers.predictions import predict
from service.answers.schemas import ProblemDetail
from service.deps import (
    AuditNotesDep,
    CdsFeedbackClientDep,
    CdsRecordsDep,
    CdsRequestBody,
    CdsServiceClientDep,
    FeedbackBody,
    HolderDep,
    ReportLinksDep,
    RequestIdDep,
    ServiceId,
    SettingsDep,
    ThreadTripsDep,
)
from service.ehr.cds.cards import risk_card
from service.ehr.cds.catalog import SERVICES
from service.ehr.cds.client_auth import CDS_CLIENT_JWT
from service.ehr.cds.gather import PreconditionFailedError, patient_id_of
from service.ehr.cds.hooks import CdsRequest, CdsResponse, Discovery, FeedbackRequest
from service.ehr.cds.sources import client_history
from service.ehr.fhir import OPERATION_OUTCOME_SCHEMA, operation_outcome, outcome_message

logger = logging.getLogger("alliance_risk.cds")

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])


def _known(service_id: str) -> None:
    if service_id not in SERVICES:
        raise HTTPException(404, "no CDS service has this id; GET /cds-services lists them")


def _outcome(status: int, message: str, *, code: str = "processing") -> JSONResponse:
    return JSONResponse(
        outcome_message(message, code=code).model_dump(mode="json", exclude_none=True),
        status_code=status,
    )


def _outcome_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": OPERATION_OUTCOME_SCHEMA}},
    }


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _outcome_doc("The hook or context.patientId does not fit this service"),
    401: {"model": ProblemDetail, "description": "No valid CDS client JWT"},
    404: {"model": ProblemDetail, "description": "No CDS service has this id"},
    412: _outcome_doc("The FHIR data needed are neither prefetched nor readable"),
    413: {"model": ProblemDetail, "description": "The request body is too large"},
    422: {
        "description": "The body breaks the CDS Hooks schema (a problem document), or the "
        "EHR's FHIR data break the data contract (an OperationOutcome)",
        "content": {
            "application/json": {"schema": OPERATION_OUTCOME_SCHEMA},
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}},
        },
    },
    503: {"model": ProblemDetail, "description": "No model is loaded, or the call was not audited"},
}
_FEEDBACK_ERRORS = {k: v for k, v in _ERRORS.items() if k in (401, 404, 413, 503)} | {
    422: {"model": ProblemDetail, "description": "The body breaks the CDS Hooks feedback schema"}
}


def _cds_body(model: type[CdsRequest] | type[FeedbackRequest]) -> dict[str, Any]:
    """The documented JSON body, and the CDS client's JWT as the call's security."""
    return {**openapi_body(model), "security": [{CDS_CLIENT_JWT: []}]}


@router.get(
    "",
    response_model=Discovery,
    response_model_exclude_none=True,
    summary="CDS Hooks discovery: the services offered and their prefetch templates",
)
def discovery() -> Discovery:
    return Discovery(services=list(SERVICES.values()))


@router.post(
    "/{service_id}",
    response_model=CdsResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    summary="CDS Hooks service call: a card with both risks, or no card",
    openapi_extra=_cds_body(CdsRequest),
)
async def call_service(
    service_id: ServiceId,
    client: CdsServiceClientDep,
    call: CdsRequestBody,
    request: Request,
    records: CdsRecordsDep,
    links: ReportLinksDep,
    holder: HolderDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    audit: AuditNotesDep,
    threads: ThreadTripsDep,
) -> CdsResponse | JSONResponse:
    _known(service_id)
    if call.hook != SERVICES[service_id].hook:
        return _outcome(400, f"this service answers the {SERVICES[service_id].hook} hook")
    try:
        patient_id = patient_id_of(call)
    except ValueError as error:
        return _outcome(400, str(error), code="invalid")
    served = holder.get()
    try:
        source = await client_history(call, patient_id, settings.fhir_fetch_timeout_seconds)
        answer = await threads.run(predict, served, source.history, request_id)
    except PreconditionFailedError as error:
        return _outcome(412, str(error), code="not-found")
    except NotEnrolledError:
        return _no_card(
            call, "the patient has no psychotherapy episode", audit, patient_id, served.version
        )
    except FhirInputError as error:
        return JSONResponse(
            operation_outcome(error.issues).model_dump(mode="json", exclude_none=True),
            status_code=422,
        )
    except NotPredictableError as error:
        return _no_card(call, str(error), audit, patient_id, served.version)
    token = links.seal(source.history, model_version=served.version, issued_to=client.name)
    base_url = (settings.cds_audience or str(request.base_url)).rstrip("/")
    card = risk_card(
        answer,
        report_url=f"{base_url}/v1/reports/{token}",
        link_minutes=settings.report_link_minutes,
    )
    if card.uuid:
        audit.rows.append(await records.issued_row(card.uuid, service_id))
    audit.add_prediction(source.history.client.client_id, answer)
    return CdsResponse(cards=[card])


def _no_card(
    call: CdsRequest, reason: str, audit: AuditNotesDep, patient_id: str, version: str | None
) -> CdsResponse:
    # The reason names what is missing, never a value or an identifier.
    logger.info("cds %s: no card (%s)", call.hook, reason)
    audit.add(patient_id, model_version=version)
    return CdsResponse(cards=[])


@router.post(
    "/{service_id}/feedback",
    status_code=200,
    response_class=Response,
    responses=_FEEDBACK_ERRORS,
    summary="CDS Hooks feedback: what the clinician did with a card",
    openapi_extra=_cds_body(FeedbackRequest),
)
def record_feedback(
    service_id: ServiceId, client: CdsFeedbackClientDep, body: FeedbackBody, records: CdsRecordsDep
) -> Response:
    _known(service_id)
    for item in body.feedback:
        records.record(service_id, item)
    return Response(status_code=200)
