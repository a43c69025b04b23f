"""Blocking calls share trips to the thread pool, and each caller still gets its own answer."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from service.model import thread_trips
from service.model.thread_trips import ThreadTrips

caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller")


def who_asked(number: int) -> tuple[str, int, str]:
    """What the call saw: its caller's context, its argument, and the thread it ran in."""
    if number == 13:
        raise ValueError("thirteen")
    return caller.get(), number * 2, threading.current_thread().name


async def ask(trips: ThreadTrips, number: int) -> tuple[str, int, str]:
    caller.set(f"request-{number}")
    return await trips.run(who_asked, number)


@pytest.fixture
def trips_taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of calls in each trip to the thread pool, as they leave."""
    taken: list[int] = []
    real_run = thread_trips.run_in_threadpool

    async def counted(function, *args):
        taken.append(len(args[0]))
        return await real_run(function, *args)

    monkeypatch.setattr(thread_trips, "run_in_threadpool", counted)
    return taken


def test_calls_of_one_turn_share_one_trip_and_keep_their_own_results(
    trips_taken: list[int],
) -> None:
    async def main() -> list[object]:
        trips = ThreadTrips()
        return await asyncio.gather(*(ask(trips, n) for n in range(20)), return_exceptions=True)

    answers = asyncio.run(main())
    assert trips_taken == [20], "twenty calls asked for in one turn take one trip"
    for number, answer in enumerate(answers):
        if number == 13:
            assert isinstance(answer, ValueError)
            assert str(answer) == "thirteen"
            continue
        assert isinstance(answer, tuple)
        context, doubled, thread = answer
        assert (context, doubled) == (f"request-{number}", number * 2)
        assert thread != threading.main_thread().name


def test_calls_of_later_turns_take_later_trips(trips_taken: list[int]) -> None:
    async def main() -> None:
        trips = ThreadTrips()
        for number in range(3):
            assert (await ask(trips, number))[1] == number * 2

    asyncio.run(main())
    assert trips_taken == [1, 1, 1]


def test_a_caller_that_gave_up_is_skipped_and_the_others_are_answered() -> None:
    ran = []

    def slow(label: str) -> str:
        ran.append(label)
        time.sleep(0.05)
        return label

    async def main() -> tuple[str, str]:
        trips = ThreadTrips()
        first = asyncio.ensure_future(trips.run(slow, "first"))
        abandoned = asyncio.ensure_future(trips.run(slow, "abandoned"))
        last = asyncio.ensure_future(trips.run(slow, "last"))
        await asyncio.sleep(0.01)  # the trip has left and runs "first"
        abandoned.cancel()
        return await first, await last

    assert asyncio.run(main()) == ("first", "last")
    assert ran == ["first", "last"]
