"""Errors as RFC 9457 problem details, naming each offending field by JSON pointer.

No error body repeats a submitted value: only where the problem is and what is allowed,
so health data cannot leak through an error message or a log of one.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.answers.schemas import ProblemDetail
from service.model.holder import ModelNotReadyError

PROBLEM_JSON = "application/problem+json"
#: Problem types are relative URI references (RFC 9457 section 3.1.1), documented in the README.
PROBLEM_BASE = "/problems/"

#: The error responses every credentialed router documents (see `service.app`).
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemDetail, "description": "No credentials, or credentials not valid"},
    403: {"model": ProblemDetail, "description": "The credentials lack the scope needed"},
    413: {"model": ProblemDetail, "description": "The request body is too large"},
    429: {"model": ProblemDetail, "description": "Rate limit exceeded; see Retry-After"},
    503: {"model": ProblemDetail, "description": "Not ready, timed out or not audited"},
}
#: The error responses of an endpoint that predicts from a client's history.
PREDICTION_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ProblemDetail,
        "description": "Input breaks the data contract or cannot be predicted from",
    },
    503: {"model": ProblemDetail, "description": "No model is loaded"},
}


#: Title and problem type of the HTTP errors raised as exceptions (by Starlette or a route).
HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "bad-request"),
    401: ("Unauthorized", "unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    409: ("Conflict", "conflict"),
    413: ("Request too large", "request-too-large"),
    429: ("Too many requests", "too-many-requests"),
}
INTERNAL_ERROR = ("Internal error", "internal-error")


def pointer(location: tuple[Any, ...] | list[Any], context: dict[str, Any] | None = None) -> str:
    """A JSON pointer (RFC 6901) from a pydantic error location, dropping FastAPI's 'body'."""
    parts = [str(part) for part in location if part != "body"]
    path = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""
    if context and "pointer" in context:
        path += str(context["pointer"])
    return path or "/"


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each error's pointer and message; pydantic's `input` (the value sent) is left out."""
    return [
        {"pointer": pointer(error.get("loc", ()), error.get("ctx")), "message": str(error["msg"])}
        for error in errors
    ]


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    request: Request | None = None,
    errors: list[dict[str, str]] | None = None,
) -> ProblemDetail:
    return ProblemDetail(
        type=PROBLEM_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        # The route template, not the raw path: a path can carry an identifier.
        instance=getattr(request.scope.get("route"), "path", None) if request is not None else None,
        request_id=getattr(request.state, "request_id", None) if request is not None else None,
        errors=errors or [],
    )


def problem_response(detail: ProblemDetail, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        detail.model_dump(exclude_none=True),
        status_code=detail.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser (it asks for HTML): it gets a page, not JSON."""
    return "text/html" in request.headers.get("accept", "")


def problem_page(detail: ProblemDetail, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The problem document as a page a person reads in a browser, same status and words."""
    title, text = html.escape(detail.title), html.escape(detail.detail)
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n<p>{text}</p>\n"
        f"<p><small>HTTP {detail.status}, problem type {html.escape(detail.type)}"
        f"{f', request {html.escape(detail.request_id)}' if detail.request_id else ''}"
        "</small></p>\n</body></html>\n"
    )
    return HTMLResponse(page, status_code=detail.status, headers=headers)


def invalid_input(errors: list[dict[str, Any]], request: Request | None = None) -> ProblemDetail:
    return problem(
        422,
        "Invalid input",
        "The request does not meet the data contract; see errors for each field.",
        slug="invalid-input",
        request=request,
        errors=field_errors(errors),
    )


def _document_problems(app: FastAPI) -> None:
    """Describe error responses as they are sent: `application/problem+json` problem
    documents, including FastAPI's own 422 (which the handlers below turn into one)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        problem_schema = {"$ref": "#/components/schemas/ProblemDetail"}
        for item in spec.get("paths", {}).values():
            for operation in item.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                    if ref.endswith("/ProblemDetail") or ref.endswith("/HTTPValidationError"):
                        del content["application/json"]
                        content[PROBLEM_JSON] = {"schema": problem_schema}
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""
    _document_problems(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(invalid_input(list(error.errors()), request))

    @app.exception_handler(ValidationError)
    async def _model_validation(request: Request, error: ValidationError) -> JSONResponse:
        return problem_response(invalid_input(list(error.errors()), request))

    @app.exception_handler(ModelNotReadyError)
    async def _not_ready(request: Request, error: ModelNotReadyError) -> JSONResponse:
        return problem_response(
            problem(503, "Model not ready", str(error), slug="model-not-ready", request=request),
            headers={"Retry-After": "30"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title, slug = HTTP_PROBLEMS.get(
            error.status_code,
            ("Bad request", "bad-request") if error.status_code < 500 else INTERNAL_ERROR,
        )
        return problem_response(
            problem(error.status_code, title, str(error.detail), slug=slug, request=request),
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        return problem_response(
            problem(
                500,
                "Internal error",
                "The service failed to answer; the request id is logged.",
                slug="internal-error",
                request=request,
            )
        )
