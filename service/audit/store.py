"""Audit records and where they are kept.

Client ids are never stored: each is replaced by an HMAC-SHA256 under a secret key, so
records about one client can be linked while the id cannot be read back or guessed from a
list of known ids without the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TypedDict, Unpack

from sqlalchemy import JSON, DateTime, Integer, String, create_engine, event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.audit.notes import AuditedClient
from service.db.base import Base
from service.db.group_commit import GroupCommit, Row
from service.db.schema import SchemaMismatchError, schema_problem, upgrade
from service.security.key_files import load_or_create_key
from service.settings import Settings

logger = logging.getLogger("alliance_risk.audit")

KEY_FILE_NAME = "audit-hmac.key"
#: Tries at switching a new SQLite file to WAL while other processes may be switching it.
WAL_ATTEMPTS = 10


class AuditRecord(Base):
    """One call, or one client of a batch call (items share the request id)."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    caller: Mapped[str] = mapped_column(String(200), index=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(64))
    client_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    item_index: Mapped[int | None] = mapped_column(Integer)
    item_status: Mapped[int | None] = mapped_column(Integer)
    outcomes: Mapped[dict[str, Any] | None] = mapped_column(JSON)


_INSERT = insert(AuditRecord)


class AuditCall(TypedDict):
    """What one call's audit record says (the keywords of `AuditTrail.write` and `commit`)."""

    request_id: str
    caller: str
    endpoint: str
    status: int
    model_version: str | None
    clients: Sequence[AuditedClient]


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'audit.db'}"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets readers (the `audit` command) work beside the writer; synchronous=FULL makes
    # a commit durable before the response goes out, even if the machine loses power.
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """The file keeps its WAL mode, so only the first connections to a new file switch.

    When several processes switch at once, SQLite answers "locked" without waiting for
    the busy timeout, so the switch is tried again after a short pause.
    """
    for attempt in range(1, WAL_ATTEMPTS + 1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if attempt == WAL_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
        else:
            return


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            # A folder that cannot be made shows up as not ready, not as a crash at start-up.
            with suppress(OSError):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class AuditTrail:
    """Writes and reads audit records; one per call, committed in one transaction."""

    def __init__(self, url: str, hmac_key: bytes | None) -> None:
        """`hmac_key=None` opens the trail for reading only."""
        if hmac_key is not None and len(hmac_key) < 16:
            raise ValueError("the audit HMAC key must be at least 16 bytes long")
        self.url = url
        self._key = hmac_key
        self.engine = make_engine(url)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        #: The database's one writer, shared by everything the service records there.
        self.writer = GroupCommit(
            self.engine, name="audit-writer", before_commit=self.ensure_schema
        )

    def ensure_schema(self) -> None:
        """Check once that the database is at this code's schema revision; raise if not.

        A SQLite database is brought up to date here (it lives beside this service); any
        other is changed only by `alliance-risk db upgrade`, run before a rollout. Once the
        revision matched it is not asked again: a running service keeps writing while the
        next version's migration is applied.
        """
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            if self.engine.dialect.name == "sqlite":
                upgrade(self.engine)
            problem = schema_problem(self.engine)
            if problem is not None:
                raise SchemaMismatchError(problem)
            self._schema_ready = True

    def problem(self) -> str | None:
        """Why records cannot be written now, or None; for readiness."""
        try:
            self.ensure_schema()
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except SchemaMismatchError as mismatch:
            return str(mismatch)
        except Exception as error:
            return f"the audit database cannot be reached ({type(error).__name__})"
        return None

    def report(self) -> None:
        """At start-up: say where records go, or why they cannot be written."""
        problem = self.problem()
        if problem is not None:
            logger.error("%s; every audited call will get 503 until it can", problem)
        else:
            logger.info("audit trail: %s", self.engine.url.render_as_string(hide_password=True))

    def client_hash(self, client_id: str) -> str:
        if self._key is None:
            raise RuntimeError("this audit trail was opened for reading only")
        return hmac.new(self._key, client_id.encode(), hashlib.sha256).hexdigest()

    def write(self, **call: Unpack[AuditCall]) -> None:
        """Commit the call's record(s); raises if the database cannot take them."""
        self.writer.submit(self._rows(**call)).result()

    async def commit(self, *, along: Sequence[Row] = (), **call: Unpack[AuditCall]) -> None:
        """`write` for the event loop: awaits the commit without holding a thread. Rows
        `along` (other tables of this database) are committed in the same transaction."""
        await self.writer.commit([*self._rows(**call), *along])

    def _rows(
        self,
        *,
        request_id: str,
        caller: str,
        endpoint: str,
        status: int,
        model_version: str | None,
        clients: Sequence[AuditedClient],
    ) -> list[Row]:
        """The call's record(s) as rows for the writer."""
        now = dt.datetime.now(dt.UTC)
        common = {
            "recorded_at": now,
            "request_id": request_id,
            "caller": caller,
            "endpoint": endpoint,
            "status": status,
        }
        # A record without clients leaves its client columns out, so they hold SQL NULL
        # (a client without outcomes stores JSON null), as the ORM wrote them before.
        rows = [
            {
                **common,
                "model_version": client.model_version or model_version,
                "client_hash": self.client_hash(client.client_id) if client.client_id else None,
                "item_index": client.item_index,
                "item_status": client.item_status,
                "outcomes": client.outcomes,
            }
            for client in clients
        ] or [{**common, "model_version": model_version}]
        return [(_INSERT, row) for row in rows]

    def records(
        self,
        *,
        since: dt.datetime | None = None,
        caller: str | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Records oldest first, optionally from a time on and for one caller."""
        self.ensure_schema()
        query = select(AuditRecord).order_by(AuditRecord.id)
        if since is not None:
            query = query.where(AuditRecord.recorded_at >= since)
        if caller is not None:
            query = query.where(AuditRecord.caller == caller)
        if limit is not None:
            query = query.order_by(None).order_by(AuditRecord.id.desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            found = list(session.scalars(query))
        return sorted(found, key=lambda record: record.id)

    def dispose(self) -> None:
        """Let the writer commit what it holds, then close the connections."""
        self.writer.dispose()
        self.engine.dispose()


def audit_trail_from(settings: Settings, *, writing: bool = True) -> AuditTrail:
    """The trail the settings describe: their URL and key, or SQLite and a key file in home."""
    url = settings.audit_database_url or default_database_url(settings.home_directory)
    if not writing:
        return AuditTrail(url, None)
    if settings.audit_hmac_key is not None:
        return AuditTrail(url, settings.audit_hmac_key.get_secret_value().encode())
    key = load_or_create_key(settings.home_directory, KEY_FILE_NAME, "ALLIANCE_RISK_AUDIT_HMAC_KEY")
    return AuditTrail(url, key)
