"""Group commit: concurrent writes to the audit database share transactions, and none
returns uncommitted."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.notes import AuditedClient
from service.audit.store import AuditRecord, AuditTrail
from service.ehr.cds.records import CdsRecords, IssuedCard


def call(number: int) -> dict[str, Any]:
    """The audit record of one synthetic prediction call."""
    return {
        "request_id": f"request-{number}",
        "caller": "group-commit-test",
        "endpoint": "/v1/predictions",
        "status": 200,
        "model_version": "1",
        "clients": [AuditedClient(client_id=f"synthetic-{number}")],
    }


def write(trail: AuditTrail, number: int) -> str:
    trail.write(**call(number))
    with trail.engine.connect() as connection:
        found = connection.execute(
            select(func.count()).where(AuditRecord.request_id == f"request-{number}")
        ).scalar_one()
    assert found == 1, "write returned before its record was committed"
    return f"request-{number}"


def test_concurrent_writes_are_each_committed_before_returning(tmp_path: Path) -> None:
    trail = AuditTrail(f"sqlite:///{tmp_path / 'audit.db'}", b"k" * 32)
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda n: write(trail, n), range(200)))
    assert len(set(written)) == 200
    with trail.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AuditRecord)).scalar_one() == 200
    trail.dispose()


def test_a_failed_commit_fails_every_caller_in_its_group(tmp_path: Path) -> None:
    trail = AuditTrail(f"sqlite:///{tmp_path / 'audit.db'}", b"k" * 32)
    trail.ensure_schema()
    with trail.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE " + AuditRecord.__tablename__)
    with pytest.raises(Exception, match="no such table"):
        write(trail, 1)
    trail.dispose()


def test_records_keep_their_columns_as_the_orm_stored_them(tmp_path: Path) -> None:
    """A call refused before any client is named leaves the client columns SQL NULL; a
    client without outcomes stores JSON null; records keep the order they were written in."""
    trail = AuditTrail(f"sqlite:///{tmp_path / 'audit.db'}", b"k" * 32)
    common = {
        "caller": "column-test",
        "endpoint": "POST /v1/predictions:batch",
        "model_version": "1",
    }
    trail.write(request_id="refused", status=401, clients=[], **common)
    trail.write(
        request_id="batch",
        status=200,
        clients=[
            AuditedClient(
                "synthetic-1", "1", {"dropout": {"probability": 0.25, "band": "low"}}, 0, 200
            ),
            AuditedClient(None, None, None, 1, 422),
        ],
        **common,
    )
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        rows = connection.execute(
            "SELECT request_id, status, model_version, client_hash IS NULL, item_index, "
            "item_status, outcomes, typeof(outcomes) FROM audit_records ORDER BY id"
        ).fetchall()
    trail.dispose()
    assert rows == [
        ("refused", 401, "1", 1, None, None, None, "null"),
        ("batch", 200, "1", 0, 0, 200, '{"dropout": {"probability": 0.25, "band": "low"}}', "text"),
        ("batch", 200, "1", 1, 1, 422, "null", "text"),
    ]


def test_commits_awaited_on_the_event_loop_share_groups_and_the_writer_stops(
    tmp_path: Path,
) -> None:
    """The middleware's path: many calls await their commit at once on one event loop;
    each returns committed, and disposing the trail stops its writer thread."""
    trail = AuditTrail(f"sqlite:///{tmp_path / 'audit.db'}", b"k" * 32)

    async def calls() -> None:
        await asyncio.gather(*(trail.commit(**call(n)) for n in range(50)))

    def writers() -> set[threading.Thread]:
        return {thread for thread in threading.enumerate() if thread.name == "audit-writer"}

    before = writers()
    asyncio.run(calls())
    with trail.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AuditRecord)).scalar_one() == 50
    [writer] = writers() - before
    trail.dispose()
    assert not writer.is_alive()


def test_cards_are_committed_with_their_calls_audit_records(tmp_path: Path) -> None:
    """The CDS service's card rows travel with their calls' audit records: awaited
    together, both kinds of row are committed when the calls return, and a card's row
    carries its retention."""
    trail = AuditTrail(f"sqlite:///{tmp_path / 'audit.db'}", b"k" * 32)
    records = CdsRecords(trail.engine, retention_days=2)

    async def one_call(n: int) -> None:
        card = await records.issued_row(f"card-{n}", "alliance-risk-patient-view")
        await trail.commit(**call(n), along=[card])

    async def calls() -> None:
        await asyncio.gather(*(one_call(n) for n in range(20)))

    asyncio.run(calls())
    with Session(trail.engine) as session:
        cards = list(session.scalars(select(IssuedCard)))
        audited = session.scalar(select(func.count()).select_from(AuditRecord))
    trail.dispose()
    assert audited == 20
    assert sorted(card.uuid for card in cards) == sorted(f"card-{n}" for n in range(20))
    assert all((card.expires_at - card.issued_at).total_seconds() == 2 * 86_400 for card in cards)
