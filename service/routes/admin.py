"""`POST /admin/reload`: load the configured model again (for example a new champion)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from service.answers.schemas import ProblemDetail, ReloadResult
from service.deps import HolderDep

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResult,
    responses={409: {"model": ProblemDetail, "description": "The candidate was refused"}},
    summary="Load and self-check the configured model; swap only if it passes",
)
async def reload_model(holder: HolderDep) -> ReloadResult:
    """The candidate is loaded beside the live model, which keeps answering meanwhile; a
    candidate that fails to load or to pass its self-check is refused and the live one stays."""
    loaded = await run_in_threadpool(holder.load)
    if not loaded:
        serving = holder.get().version if holder.ready else None
        raise HTTPException(
            409,
            f"the candidate was refused ({holder.last_failure}); "
            + (f"version {serving} keeps serving" if serving else "no model is serving"),
        )
    return ReloadResult(status="loaded", model_version=holder.get().version)
