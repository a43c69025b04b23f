"""Dependencies as typed aliases, so a route's signature reads like its contract."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Path, Request

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from service.answers.bodies import openapi_body, strict_json
from service.answers.schemas import BatchRequest
from service.audit.notes import AuditNotes, open_audit
from service.audit.store import AuditTrail
from service.ehr.cds.catalog import SERVICES
from service.ehr.cds.client_auth import CdsClient, cds_state
from service.ehr.cds.hooks import CdsRequest, FeedbackRequest
from service.ehr.cds.records import CdsRecords
from service.model.holder import ModelHolder, ServedModel
from service.model.thread_trips import ThreadTrips
from service.observability.metrics import ServiceMetrics
from service.reports.links import ReportLinks, report_links_from
from service.settings import Settings

# The dependencies below only read what the app or the request already holds, so they are
# coroutines: FastAPI runs a plain function dependency in its thread pool, and the hop there
# and back cost more than each of them does.


async def _holder(request: Request) -> ModelHolder:
    return request.app.state.model_holder


async def _served(request: Request) -> ServedModel:
    holder: ModelHolder = request.app.state.model_holder
    return holder.get()


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _request_id(request: Request) -> str:
    return request.state.request_id


async def _audit_trail(request: Request) -> AuditTrail:
    return request.app.state.audit_trail


async def _thread_trips(request: Request) -> ThreadTrips:
    return request.app.state.thread_trips


#: The id of a CDS service this service offers (others get 404).
ServiceId = Annotated[
    str,
    Path(
        description="A CDS service id from discovery.", json_schema_extra={"enum": sorted(SERVICES)}
    ),
]


async def _cds_service_client(request: Request, service_id: ServiceId) -> CdsClient:
    client = await cds_state(request).auth.identify(request, f"/cds-services/{service_id}")
    request.state.caller = client
    return client


async def _cds_feedback_client(request: Request, service_id: ServiceId) -> CdsClient:
    client = await cds_state(request).auth.identify(request, f"/cds-services/{service_id}/feedback")
    request.state.caller = client
    return client


async def _metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


_report_links_lock = threading.Lock()


def _report_links(request: Request) -> ReportLinks:
    """The app's report links, made on first use (their key file, if any, only then)."""
    links = getattr(request.app.state, "report_links", None)
    if links is None:
        with _report_links_lock:
            links = getattr(request.app.state, "report_links", None)
            if links is None:
                links = report_links_from(request.app.state.settings)
                request.app.state.report_links = links
    return links


def _cds_records(request: Request) -> CdsRecords:
    return cds_state(request).records


HolderDep = Annotated[ModelHolder, Depends(_holder)]
ServedModelDep = Annotated[ServedModel, Depends(_served)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RequestIdDep = Annotated[str, Depends(_request_id)]
AuditTrailDep = Annotated[AuditTrail, Depends(_audit_trail)]
MetricsDep = Annotated[ServiceMetrics, Depends(_metrics)]
ReportLinksDep = Annotated[ReportLinks, Depends(_report_links)]
#: What a route tells the audit trail about the clients it answered for.
AuditNotesDep = Annotated[AuditNotes, Depends(open_audit)]
#: The CDS client calling `/cds-services/{service_id}`, proven by its signed JWT.
CdsServiceClientDep = Annotated[CdsClient, Depends(_cds_service_client)]
#: The CDS client calling `/cds-services/{service_id}/feedback`, proven likewise.
CdsFeedbackClientDep = Annotated[CdsClient, Depends(_cds_feedback_client)]
CdsRecordsDep = Annotated[CdsRecords, Depends(_cds_records)]
#: Where a route runs its prediction: in the thread pool, one trip per turn of the loop.
ThreadTripsDep = Annotated[ThreadTrips, Depends(_thread_trips)]
#: One client's history as the request body, read strictly (document it with HISTORY_BODY_DOC).
HistoryBody = Annotated[ClientHistory, Depends(strict_json(ClientHistory, every_field_typed=True))]
HISTORY_BODY_DOC = openapi_body(
    ClientHistory, {"three sessions, alliance falling": {"value": EXAMPLE_HISTORY}}
)
BatchBody = Annotated[BatchRequest, Depends(strict_json(BatchRequest))]
CdsRequestBody = Annotated[CdsRequest, Depends(strict_json(CdsRequest))]
FeedbackBody = Annotated[FeedbackRequest, Depends(strict_json(FeedbackRequest))]
