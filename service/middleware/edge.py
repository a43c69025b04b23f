"""The outermost layer: a request id, security headers, one access-log line and the request
metrics per request.

The log line names the route template (`/v1/predictions`), never the raw path or query
string, which could carry an identifier.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.audit.notes import STATE_KEY as AUDIT_STATE_KEY
from service.model.holder import ModelHolder
from service.observability.metrics import ServiceMetrics

logger = logging.getLogger("alliance_risk.access")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Answers carry health data: no browser or proxy may keep a copy.
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# The interactive docs load Swagger UI / ReDoc scripts and styles from their CDN.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, holder: ModelHolder, metrics: ServiceMetrics) -> None:
        self.app = app
        self.holder = holder
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = uuid.uuid4().hex
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    # A route may set its page's own policy (the report's page allows its inline CSS).
                    if name == "Content-Security-Policy" and name in headers:
                        continue
                    headers[name] = value
                if scope["path"] in DOCS_PATHS:
                    headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
            await send(message)

        error_type = None
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            error_type = type(error).__name__
            raise
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "(unmatched)")
            self.metrics.observe_request(scope["method"], route, status, seconds)
            logger.log(
                logging.ERROR if status >= 500 or error_type else logging.INFO,
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "latency_ms": round(seconds * 1000, 2),
                    "model_version": self._model_version(state),
                    "error_type": error_type,
                },
            )

    def _model_version(self, state: dict) -> str | None:
        notes = state.get(AUDIT_STATE_KEY)
        if notes is not None:
            for client in notes.clients:
                if client.model_version:
                    return client.model_version
        return self.holder.get().version if self.holder.ready else None
