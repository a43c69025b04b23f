"""Blocking calls asked for in the same turn of the event loop go to a thread together.

A prediction runs in a worker thread so that a slow one cannot hold the event loop: the
request timeout must still be able to answer. Sending each call to a thread on its own
costs a thread switch and a hand-over of the GIL per request. Calls that arrive while the
loop is busy with others are instead run one after the other in one thread: at 8
connections the server's CPU per request fell by about a third (BENCHMARKS.md, F). Each
still runs alone, in its caller's own context (request id, logging), and its caller gets
exactly its own result or exception.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class _Call:
    run: Callable[[], Any]
    context: contextvars.Context
    result: asyncio.Future[Any]


def _run_each(calls: list[_Call]) -> list[tuple[Any, BaseException | None]]:
    """Every call in turn, each in its caller's context; one's exception stays its own."""
    outcomes: list[tuple[Any, BaseException | None]] = []
    for call in calls:
        if call.result.cancelled():
            # Its caller has gone (the request timed out); nobody will read the result.
            outcomes.append((None, None))
            continue
        try:
            outcomes.append((call.context.run(call.run), None))
        except Exception as error:
            outcomes.append((None, error))
    return outcomes


class ThreadTrips:
    """Runs blocking calls in the thread pool, one trip for all those asked for in a turn
    of the event loop. One instance per application (it belongs to one event loop)."""

    def __init__(self) -> None:
        self._waiting: list[_Call] = []
        self._trips: set[asyncio.Task[None]] = set()

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(*args, **kwargs)` in a worker thread, as `run_in_threadpool` runs it."""
        loop = asyncio.get_running_loop()
        call = _Call(
            lambda: function(*args, **kwargs), contextvars.copy_context(), loop.create_future()
        )
        self._waiting.append(call)
        if len(self._waiting) == 1:
            # After the callbacks already due in this turn: requests read meanwhile join.
            loop.call_soon(self._depart)
        return await call.result

    def _depart(self) -> None:
        calls, self._waiting = self._waiting, []
        trip = asyncio.ensure_future(self._trip(calls))
        self._trips.add(trip)
        trip.add_done_callback(self._trips.discard)

    async def _trip(self, calls: list[_Call]) -> None:
        try:
            outcomes = await run_in_threadpool(_run_each, calls)
        except BaseException as error:
            for call in calls:
                if call.result.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    call.result.cancel()
                else:
                    call.result.set_exception(error)
            raise
        for call, (value, error) in zip(calls, outcomes, strict=True):
            if call.result.done():
                continue
            if error is None:
                call.result.set_result(value)
            else:
                call.result.set_exception(error)
