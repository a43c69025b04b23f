"""Which revision a database is at, whether this code can use it, and bringing it up to date.

The service never races to create its tables: `alliance-risk db upgrade` runs the Alembic
revisions once, before a rollout, and a service whose database is behind or ahead of its
code is not ready and says which way. The one exception is SQLite, the single-machine
default: it lives beside the service, so the service upgrades it at start, with a lock
file that keeps the workers of one machine from doing it twice.
"""

from __future__ import annotations

import fcntl
import functools
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
#: The revision that created the audit table as `create_all` made it before migrations.
BASELINE = "0001"
#: Any constant: replicas running `db upgrade` at once wait for each other on it.
POSTGRES_LOCK_ID = 7_021_955_318
UPGRADE_HINT = "run `alliance-risk db upgrade` with this version of the code"


class SchemaMismatchError(RuntimeError):
    """The database's schema revision is not this code's; the message says what to do."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _known(revision: str) -> bool:
    return any(
        s.revision == revision for s in ScriptDirectory.from_config(_config()).walk_revisions()
    )


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _predates_migrations(connection: Connection) -> bool:
    """An audit table made by `create_all`, before migrations: at the baseline, unstamped."""
    return inspect(connection).has_table("audit_records") and _current(connection) is None


def _ahead(current: str, head: str) -> str:
    return (
        f"the audit database is at revision {current}, newer than this code (which knows up "
        f"to {head}): use it with the version of the code that upgraded it"
    )


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return _current(connection)


def schema_problem(engine: Engine) -> str | None:
    """Why this code cannot use the database's schema, or None when it is at this code's head."""
    with engine.connect() as connection:
        current = _current(connection)
        legacy = current is None and _predates_migrations(connection)
    head = head_revision()
    if current == head:
        return None
    if legacy:
        return f"the audit database was made before schema migrations; {UPGRADE_HINT}"
    if current is None:
        return f"the audit database has no schema yet; {UPGRADE_HINT}"
    if not _known(current):
        return _ahead(current, head)
    return f"the audit database is at revision {current}, behind this code ({head}); {UPGRADE_HINT}"


@contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    """A lock file beside a SQLite database, so one process upgrades it and the rest wait."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to this code's head revision; the revisions before and after.

    A database made before migrations is first marked as being at the baseline (its table
    is the baseline's). Safe to run from several places at once: on PostgreSQL an advisory
    lock, on SQLite a lock file, lets one run while the others wait and then find nothing
    to do.
    """
    head = head_revision()
    lock = _sqlite_lock(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with lock, engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": POSTGRES_LOCK_ID})
        before = _current(connection)
        if before is not None and not _known(before):
            raise SchemaMismatchError(_ahead(before, head))
        config = _config(connection)
        if _predates_migrations(connection):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    return before, head
