"""Liveness and readiness, open to every caller (no client data)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import HolderDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: a model is loaded and passed its self-check",
    responses={503: {"description": "Not ready, with the reason"}},
)
def readyz(holder: HolderDep) -> JSONResponse:
    if holder.ready:
        served = holder.get()
        return JSONResponse({"status": "ready", "model_version": served.version})
    return JSONResponse({"status": "not ready", "reason": holder.reason}, status_code=503)
