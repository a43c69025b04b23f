"""Replicas that start together on an empty audit database all come up ready.

On PostgreSQL the schema is made by `alliance-risk db upgrade` before a rollout, which may
itself be started from several machines at once: one runs the migrations while the others
wait for its lock and then find nothing to do. A SQLite database is brought up to date by
the service itself, and processes of one machine starting together take turns at it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from threading import Barrier

import pytest
from postgres import create_database
from sqlalchemy import func, select

from service.audit.store import AuditRecord, AuditTrail
from service.db.schema import upgrade

PROCESSES = 4
ROUNDS = 5
KEY = b"schema-race-test-key-0123456789"


def _start_replica(url: str, barrier: Barrier, migrate: bool) -> str | None:
    """What a replica does on start (after `db upgrade` when `migrate`): check the schema,
    then write one record."""
    trail = AuditTrail(url, KEY)
    barrier.wait()
    try:
        if migrate:
            upgrade(trail.engine)
        problem = trail.problem()
        if problem is None:
            trail.write(
                request_id="start",
                caller="replica",
                endpoint="/ready",
                status=200,
                model_version=None,
                clients=[],
            )
        return problem
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    finally:
        trail.dispose()


def _start_together(url: str, migrate: bool) -> list[str | None]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        barrier = manager.Barrier(PROCESSES)
        return pool.starmap(_start_replica, [(url, barrier, migrate)] * PROCESSES)


def _assert_all_ready(fresh: Callable[[int], str], *, migrate: bool) -> None:
    """Each round: a new empty database, replicas started at once, one record from each."""
    for round_number in range(ROUNDS):
        database = fresh(round_number)
        assert _start_together(database, migrate) == [None] * PROCESSES
        trail = AuditTrail(database, None)
        with trail.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(AuditRecord)).scalar() == (
                PROCESSES
            )
        trail.dispose()


@pytest.mark.slow
def test_db_upgrade_run_by_replicas_at_once_on_empty_postgresql_leaves_all_ready(
    postgres_url: str,
) -> None:
    _assert_all_ready(lambda n: create_database(postgres_url, f"schema_race_{n}"), migrate=True)


def test_processes_starting_together_on_empty_sqlite_all_become_ready(tmp_path: Path) -> None:
    _assert_all_ready(lambda n: f"sqlite:///{tmp_path / f'audit-{n}.db'}", migrate=False)
