"""The ASGI layers around the routes, outermost first:

edge (request id, security headers, access log, request metrics) -> CORS (only if configured) -> body size
cap -> audit (commits before the response starts) -> timeout -> the routes.
The audit layer sits outside the timeout so a timed-out call is recorded with its 503.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.audit.store import AuditTrail
from service.middleware.audit import AuditMiddleware
from service.middleware.edge import EdgeMiddleware
from service.middleware.limits import BodySizeLimitMiddleware, RequestTimeoutMiddleware
from service.model.holder import ModelHolder
from service.observability.metrics import ServiceMetrics
from service.settings import Settings


def install_middleware(
    app: FastAPI,
    settings: Settings,
    *,
    trail: AuditTrail,
    holder: ModelHolder,
    metrics: ServiceMetrics,
) -> None:
    # add_middleware puts each new layer outside the previous ones: add innermost first.
    app.add_middleware(RequestTimeoutMiddleware, seconds=settings.request_timeout_seconds)
    app.add_middleware(AuditMiddleware, trail=trail, holder=holder, metrics=metrics)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(EdgeMiddleware, holder=holder, metrics=metrics)
