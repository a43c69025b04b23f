"""One writer thread per database that commits the rows of many calls in one transaction.

With `synchronous=FULL` every commit waits for the disk, and SQLite lets one writer in at a
time, so a commit per call would queue the calls behind each other's fsync. Here calls hand
their rows to a writer thread; rows that arrive while a commit runs share the next one, so
concurrent calls pay for one fsync between them, and each caller still learns only once a
transaction holding its own rows has committed (or that it failed). The audit trail owns
the writer; the CDS service's record of a card travels with its call's audit record.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.engine import Engine

#: An INSERT statement and one row of values for it.
Row = tuple[Insert, dict[str, Any]]
#: One call's rows and the future its caller waits on.
_Pending = tuple[Sequence[Row], Future[None]]


class GroupCommit:
    """Commits rows handed to it from any thread, many calls per transaction."""

    def __init__(
        self, engine: Engine, *, name: str, before_commit: Callable[[], None] = lambda: None
    ) -> None:
        """`before_commit` runs in the writer before each transaction (the audit trail's
        schema check); if it raises, that group's callers get its error."""
        self.engine = engine
        self.name = name
        self.before_commit = before_commit
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, rows: Sequence[Row]) -> Future[None]:
        """Hand rows to the writer; the future completes once a transaction holding them
        has committed, or fails with the database's error."""
        committed: Future[None] = Future()
        self._start()
        self._queue.put((rows, committed))
        return committed

    async def commit(self, rows: Sequence[Row]) -> None:
        """`submit` for the event loop: awaits the commit without holding a thread; raises
        if the database cannot take the rows."""
        await asyncio.wrap_future(self.submit(rows))

    def dispose(self) -> None:
        """Let the writer commit what it holds, then stop it (a later submit restarts it)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def _start(self) -> None:
        if self._writer is not None:
            return
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._writer.start()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while group[-1] is not None:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = group[-1] is None
            pending = [item for item in group if item is not None]
            if pending:
                self._commit(pending)
            if stopping:
                return

    def _commit(self, group: list[_Pending]) -> None:
        """One transaction for the group: Core INSERTs, one per run of rows of the same
        statement and columns (usually one per table); the ORM's unit of work cost more
        than the inserts themselves."""
        try:
            self.before_commit()
            with self.engine.begin() as connection:
                in_order = (row for rows, _ in group for row in rows)
                for _, run in itertools.groupby(in_order, key=_statement_and_columns):
                    rows = list(run)
                    connection.execute(rows[0][0], [values for _, values in rows])
        except Exception as error:
            for _, waiting in group:
                waiting.set_exception(error)
        else:
            for _, waiting in group:
                waiting.set_result(None)


def _statement_and_columns(row: Row) -> tuple[int, tuple[str, ...]]:
    statement, values = row
    return id(statement), tuple(values)
