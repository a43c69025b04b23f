"""Writes the audit record of every audited call before its response starts.

If the record cannot be committed the caller gets a 503 instead of the answer: a result
that was not recorded is never released. Released estimates, and failed writes, are
counted in the metrics.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.audit.notes import STATE_KEY, AuditNotes
from service.audit.store import AuditTrail
from service.middleware.responses import send_problem
from service.model.holder import ModelHolder
from service.observability.metrics import ServiceMetrics

logger = logging.getLogger("alliance_risk.audit")

#: Caller recorded when the request was refused before anyone was identified.
UNIDENTIFIED = "(unidentified)"


class AuditMiddleware:
    def __init__(
        self, app: ASGIApp, trail: AuditTrail, holder: ModelHolder, metrics: ServiceMetrics
    ) -> None:
        self.app = app
        self.trail = trail
        self.holder = holder
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        replaced = False

        async def send_after_audit(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            notes = state.get(STATE_KEY)
            if message["type"] == "http.response.start" and notes is not None:
                try:
                    await self._commit(state, notes, message["status"])
                except Exception as error:
                    replaced = True
                    self.metrics.audit_write_failures.inc()
                    logger.error(
                        "audit record could not be written; the answer was withheld",
                        extra={
                            "request_id": state.get("request_id"),
                            "error_type": type(error).__name__,
                        },
                    )
                    await send_problem(
                        scope,
                        receive,
                        send,
                        status=503,
                        title="Audit trail unavailable",
                        detail="the call could not be recorded, so no answer was released; try again later",
                        slug="audit-unavailable",
                        headers={"Retry-After": "30"},
                    )
                    return
                self.metrics.count_predictions(notes.clients)
            await send(message)

        await self.app(scope, receive, send_after_audit)

    async def _commit(self, state: dict, notes: AuditNotes, status: int) -> None:
        caller = state.get("caller")
        await self.trail.commit(
            request_id=state.get("request_id", ""),
            caller=getattr(caller, "name", UNIDENTIFIED),
            endpoint=notes.endpoint,
            status=status,
            model_version=self.holder.get().version if self.holder.ready else None,
            clients=notes.clients,
            along=notes.rows,
        )
