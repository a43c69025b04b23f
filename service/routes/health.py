"""Liveness and readiness, open to every caller (no client data)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import AuditTrailDep, HolderDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: a model passed its self-check and the audit trail can be written",
    responses={503: {"description": "Not ready, with the reason"}},
)
def readyz(holder: HolderDep, audit: AuditTrailDep) -> JSONResponse:
    audit_problem = audit.problem()
    if holder.ready and audit_problem is None:
        served = holder.get()
        return JSONResponse({"status": "ready", "model_version": served.version})
    reason = holder.reason if not holder.ready else audit_problem
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
