"""Build the FastAPI application: settings, model, middleware, error handlers, routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from service.answers.contract import describe_request_bodies
from service.answers.problems import AUTH_ERRORS, install_handlers
from service.audit.notes import open_audit
from service.audit.store import audit_trail_from
from service.middleware import install_middleware
from service.model.holder import ModelHolder
from service.model.refresh import watch_champion
from service.model.thread_trips import ThreadTrips
from service.observability.logs import configure_logging
from service.observability.metrics import ServiceMetrics
from service.routes import (
    admin,
    cds_hooks,
    fhir,
    health,
    metrics,
    model,
    predictions,
    report_links,
    reports,
)
from service.security.auth import Authenticator, refuse_unsafe_bind, require_admin, require_predict
from service.settings import Settings, get_settings

API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    refuse_unsafe_bind(settings)
    configure_logging()
    holder = ModelHolder(settings)
    authenticator = Authenticator(settings)
    trail = audit_trail_from(settings)
    service_metrics = ServiceMetrics(holder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        authenticator.report()
        trail.report()
        holder.load()
        async with watch_champion(holder, settings.model_poll_seconds):
            yield
        trail.dispose()

    app = FastAPI(
        title="alliance-risk",
        version=API_VERSION,
        summary="Early-session risk of premature dropout and violence toward others in psychotherapy.",
        description=(
            "Calibrated probabilities with exact SHAP explanations, from the therapeutic alliance, "
            "client anxiety and therapist factors in the first five sessions. Decision support, "
            "not a diagnosis."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model_holder = holder
    app.state.authenticator = authenticator
    app.state.audit_trail = trail
    app.state.metrics = service_metrics
    app.state.thread_trips = ThreadTrips()

    install_middleware(app, settings, trail=trail, holder=holder, metrics=service_metrics)
    install_handlers(app)
    describe_request_bodies(app, settings)
    # Open: liveness and readiness (no client data); /docs and /openapi.json are open too.
    app.include_router(health.router)
    # For operators, behind its own scrape token (ALLIANCE_RISK_METRICS_TOKEN); not audited.
    app.include_router(metrics.router)
    # Every other router is audited and needs credentials; add new ones to this tuple.
    client_data = [Depends(open_audit), Depends(require_predict)]
    for router in (predictions.router, model.router, fhir.router, reports.router):
        app.include_router(router, dependencies=client_data, responses=AUTH_ERRORS)
    # CDS Hooks clients prove who they are with their own signed JWT (service.ehr.cds.client_auth).
    app.include_router(cds_hooks.router, dependencies=[Depends(open_audit)])
    # A card's report link is its own credential (service.reports.links); audited.
    app.include_router(report_links.router, dependencies=[Depends(open_audit)])
    app.include_router(
        admin.router,
        dependencies=[Depends(open_audit), Depends(require_admin)],
        responses=AUTH_ERRORS,
    )
    return app
