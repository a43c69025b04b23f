"""Build the FastAPI application: settings, model, middleware, error handlers, routers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from service.model_holder import ModelHolder
from service.problems import install_handlers
from service.routes import health, model, predictions
from service.settings import Settings, get_settings

API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    holder = ModelHolder(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder.load()
        yield

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

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    install_handlers(app)
    for router in (health.router, predictions.router, model.router):
        app.include_router(router)
    return app
