"""Request body cap (413) and request timeout (503)."""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.middleware.responses import send_problem

logger = logging.getLogger("alliance_risk.limits")


def _too_large_detail(limit: int) -> str:
    return f"the request body must not exceed {limit} bytes; send large batches in parts"


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes`: at once by Content-Length, or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await send_problem(
                scope,
                receive,
                send,
                status=413,
                title="Request too large",
                detail=_too_large_detail(self.max_bytes),
                slug="request-too-large",
            )
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read, so the app's handlers answer 413.
                    raise HTTPException(413, _too_large_detail(self.max_bytes))
            return message

        await self.app(scope, counted_receive, send)


class RequestTimeoutMiddleware:
    """Answers 503 when no response has started within `seconds`.

    The work is left to finish in the background (a thread cannot be interrupted) but its
    answer is dropped; once a response has started it is never cut short.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._abandoned: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        started = False
        timed_out = False

        async def send_unless_timed_out(message: Message) -> None:
            nonlocal started
            if timed_out:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.create_task(self.app(scope, receive, send_unless_timed_out))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if done or started:
            await task
            return
        timed_out = True
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)
        logger.warning(
            "request timed out",
            extra={"request_id": scope.get("state", {}).get("request_id"), "status": 503},
        )
        await send_problem(
            scope,
            receive,
            send,
            status=503,
            title="Request timed out",
            detail=f"no answer within {self.seconds:g} seconds; try again later",
            slug="request-timed-out",
            headers={"Retry-After": "5"},
        )

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()
