"""CDS Hooks 2.0 endpoints: discovery, the patient-view service, and its feedback.

`GET /cds-services` lists the service and its prefetch templates. `POST
/cds-services/{id}` answers with at most one card; none when the patient has no
psychotherapy episode here or no session yet (the reason is logged, without health data).
`POST /cds-services/{id}/feedback` records what the clinician did with a card.
Errors of the service call carry an OperationOutcome, as CDS Hooks recommends.
"""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Annotated

import certifi
import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from data_schemas.fhir import (
    FhirHistory,
    FhirInputError,
    MissingResourceError,
    NotEnrolledError,
    history_from_resources,
)
from models.predictor import NotPredictableError
from service.answers.predictions import predict
from service.answers.schemas import ProblemDetail
from service.audit.notes import AuditNotesDep
from service.deps import HolderDep, RequestIdDep, SettingsDep
from service.ehr.cds.cards import risk_card
from service.ehr.cds.catalog import SERVICES
from service.ehr.cds.client_auth import CdsClient, cds_state
from service.ehr.cds.gather import (
    FhirServer,
    PreconditionFailedError,
    fetch_reference,
    gather,
    patient_id_of,
)
from service.ehr.cds.hooks import CdsRequest, CdsResponse, Discovery, FeedbackRequest
from service.ehr.fhir import operation_outcome, outcome_message

logger = logging.getLogger("alliance_risk.cds")

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])


async def _service_client(request: Request, service_id: str) -> CdsClient:
    client = await cds_state(request).auth.identify(request, f"/cds-services/{service_id}")
    request.state.caller = client
    return client


async def _feedback_client(request: Request, service_id: str) -> CdsClient:
    client = await cds_state(request).auth.identify(request, f"/cds-services/{service_id}/feedback")
    request.state.caller = client
    return client


def _known(service_id: str) -> None:
    if service_id not in SERVICES:
        raise HTTPException(404, "no CDS service has this id; GET /cds-services lists them")


def _outcome(status: int, message: str, *, code: str = "processing") -> JSONResponse:
    return JSONResponse(
        outcome_message(message, code=code).model_dump(mode="json", exclude_none=True),
        status_code=status,
    )


_ERRORS = {
    400: {"description": "The request is not a valid CDS Hooks call for this service"},
    401: {"model": ProblemDetail, "description": "No valid CDS client JWT"},
    404: {"model": ProblemDetail, "description": "No CDS service has this id"},
    412: {"description": "The FHIR data needed are neither prefetched nor readable"},
    422: {"description": "The EHR's FHIR data break the data contract (OperationOutcome)"},
}


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
)
async def call_service(
    service_id: str,
    call: CdsRequest,
    request: Request,
    client: Annotated[CdsClient, Depends(_service_client)],
    holder: HolderDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    audit: AuditNotesDep,
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
        source = await _source(call, patient_id, settings.fhir_fetch_timeout_seconds)
        answer = await run_in_threadpool(predict, served, source.history, request_id)
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
    card = risk_card(answer, base_url=settings.cds_audience or str(request.base_url))
    if card.uuid:
        cds_state(request).records.issued(card.uuid, service_id)
    audit.add_prediction(source.history.client.client_id, answer)
    return CdsResponse(cards=[card])


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every call: building one loads the CA bundle, which cost about
    30 ms per hook call, most of the answer's time, even when prefetch made it unused."""
    return ssl.create_default_context(cafile=certifi.where())


async def _source(call: CdsRequest, patient_id: str, timeout: float) -> FhirHistory:
    """The client history from prefetch and, where needed, the EHR's FHIR server."""
    try:
        server = FhirServer.of(call, timeout)
        server_problem = None
    except PreconditionFailedError as error:
        server, server_problem = None, error
    async with httpx.AsyncClient(follow_redirects=False, verify=_tls_context()) as http:
        try:
            resources = await gather(call, patient_id, server, http)
        except PreconditionFailedError:
            # Without a usable server, say why the server could not be used.
            if server_problem is not None:
                raise server_problem from None
            raise
        try:
            return history_from_resources(resources, patient_id=patient_id)
        except MissingResourceError as missing:
            if server is None:
                raise PreconditionFailedError(
                    f"{missing.issues[0].message}, and no fhirServer with fhirAuthorization "
                    "was given to read it from"
                ) from None
            resources += await fetch_reference(server, http, missing.reference)
            return history_from_resources(resources, patient_id=patient_id)


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
    responses={k: v for k, v in _ERRORS.items() if k in (401, 404)},
    summary="CDS Hooks feedback: what the clinician did with a card",
)
def record_feedback(
    service_id: str,
    body: FeedbackRequest,
    request: Request,
    client: Annotated[CdsClient, Depends(_feedback_client)],
) -> Response:
    _known(service_id)
    records = cds_state(request).records
    for item in body.feedback:
        records.record(service_id, item)
    return Response(status_code=200)
