"""What a route tells the audit trail about the clients it answered for.

A route that takes or returns client data asks for `AuditNotesDep` (in `service.deps`) and
adds each client it answered for; the audit middleware turns the notes into records when
the response starts. A call that fails before the route runs (401, 422, 429) still gets
one record, without a client. A route may also hand over rows of its own that must be
committed before its answer goes out (the CDS service's record of a card): they share the
audit record's transaction, so the call waits for one commit, and a failed commit
withholds the answer and leaves neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from service.db.group_commit import Row

if TYPE_CHECKING:
    from service.answers.schemas import PredictionResponse

STATE_KEY = "audit_notes"


@dataclass(frozen=True)
class AuditedClient:
    """One client in a call: its id (hashed when stored), the model and the results."""

    client_id: str | None
    model_version: str | None = None
    outcomes: dict[str, dict[str, Any]] | None = None
    item_index: int | None = None
    item_status: int | None = None


@dataclass
class AuditNotes:
    """Filled in by the route while it answers; read by the audit middleware."""

    endpoint: str
    clients: list[AuditedClient] = field(default_factory=list)
    #: Rows committed in the audit record's transaction, before the response starts.
    rows: list[Row] = field(default_factory=list)

    def add(
        self,
        client_id: str | None,
        *,
        model_version: str | None,
        outcomes: Mapping[str, tuple[float, str]] | None = None,
        item_index: int | None = None,
        item_status: int | None = None,
    ) -> None:
        """Note a client; `outcomes` maps outcome name to (probability, band)."""
        self.clients.append(
            AuditedClient(
                client_id=client_id,
                model_version=model_version,
                outcomes=(
                    {name: {"probability": p, "band": band} for name, (p, band) in outcomes.items()}
                    if outcomes is not None
                    else None
                ),
                item_index=item_index,
                item_status=item_status,
            )
        )

    def add_prediction(
        self, client_id: str, answer: PredictionResponse, *, item_index: int | None = None
    ) -> None:
        self.add(
            client_id,
            model_version=answer.model.version,
            outcomes={
                name: (result.probability, result.band)
                for name, result in answer.predictions.items()
            },
            item_index=item_index,
            item_status=200 if item_index is not None else None,
        )


async def open_audit(request: Request) -> AuditNotes:
    """Router dependency: marks the call as audited, before authentication runs (a
    coroutine, so FastAPI calls it on the event loop instead of in its thread pool)."""
    notes = getattr(request.state, STATE_KEY, None)
    if notes is None:
        path = getattr(request.scope.get("route"), "path", "(unmatched)")
        notes = AuditNotes(endpoint=f"{request.method} {path}")
        setattr(request.state, STATE_KEY, notes)
    return notes
