"""Rows kept until they expire: each process deletes the expired ones now and then.

The tables of the CDS state carry an `expires_at`; nothing reads a row past it, so a
purge that fails (the database busy, a replica racing another) only keeps rows a while
longer and is tried again at the next interval.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


class PeriodicPurge:
    """Call it before a write: at most once per `every_seconds` it deletes expired rows."""

    def __init__(
        self,
        engine: Engine,
        tables: Sequence[Any],
        *,
        every_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.tables = tuple(tables)
        self.every = every_seconds
        self.clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether a call now would purge (so a caller on the event loop can hand it to a
        thread only then)."""
        return self.clock() >= self._next

    def __call__(self) -> None:
        now = self.clock()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.every
        cutoff = dt.datetime.fromtimestamp(now, dt.UTC)
        with suppress(Exception), Session(self.engine) as session, session.begin():
            for table in self.tables:
                session.execute(delete(table).where(table.expires_at < cutoff))
