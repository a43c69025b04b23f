"""Problem responses sent from ASGI middleware, below FastAPI's exception handlers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from service.answers.problems import problem, problem_response


async def send_problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    status: int,
    title: str,
    detail: str,
    slug: str,
    headers: dict[str, str] | None = None,
) -> None:
    detail_body = problem(status, title, detail, slug=slug, request=Request(scope))
    await problem_response(detail_body, headers=headers)(scope, receive, send)
