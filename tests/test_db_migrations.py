"""The database schema is under Alembic: `alliance-risk db upgrade` brings an empty database
or one made before migrations to this code's revision, and a service whose database is
behind or ahead of its code is not ready and says why. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from credentials import key_header, secured_settings
from fastapi.testclient import TestClient
from postgres import create_database
from sqlalchemy import Engine, func, insert, select, text
from typer.testing import CliRunner

from alliance_risk_cli import app as cli
from data_schemas.examples import EXAMPLE_HISTORY
from service.app import create_app
from service.audit.store import AuditRecord, make_engine
from service.db.base import Base
from service.db.schema import current_revision, head_revision
from service.ehr.cds.records import FeedbackRecord, IssuedCard
from service.security.replay import TokenUse
from training.pipeline import TrainingOutcome

#: Every table the service maps, each onto the one declarative base.
MAPPED = (AuditRecord, TokenUse, IssuedCard, FeedbackRecord)
HMAC_KEY = "migration-test-key-0123456789"
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A new, empty database: a SQLite file, or a database on the throwaway cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'audit.db'}"
    cluster = request.getfixturevalue("postgres_url")
    return create_database(cluster, f"migrations_{next(_names)}")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def db_upgrade(database_url: str) -> tuple[int, str]:
    """`alliance-risk db upgrade` against this database: exit code and output."""
    result = CliRunner().invoke(
        cli, ["db", "upgrade"], env={"ALLIANCE_RISK_AUDIT_DATABASE_URL": database_url}
    )
    return result.exit_code, result.output


def readiness(database_url: str) -> tuple[int, dict[str, str]]:
    """What `/readyz` of a service on this database says."""
    settings = secured_settings(audit_database_url=database_url, audit_hmac_key=HMAC_KEY)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        if response.status_code == 503:
            refused = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
            assert refused.status_code == 503
        return response.status_code, response.json()


def test_upgrade_from_empty_creates_exactly_the_tables_the_code_maps(
    database_url: str, engine: Engine
) -> None:
    code, output = db_upgrade(database_url)
    assert code == 0, output
    assert f"now {head_revision()}" in output
    assert current_revision(engine) == head_revision()
    assert {m.__tablename__ for m in MAPPED} == set(Base.metadata.tables)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    again, output = db_upgrade(database_url)
    assert again == 0
    assert f"already at revision {head_revision()}" in output


def test_upgrade_adopts_a_database_made_before_migrations_and_keeps_its_records(
    database_url: str, engine: Engine, trained_model: TrainingOutcome
) -> None:
    AuditRecord.__table__.create(engine)  # what `create_all` made before migrations
    with engine.begin() as connection:
        connection.execute(
            insert(AuditRecord).values(
                recorded_at=dt.datetime.now(dt.UTC),
                request_id="before-migrations",
                caller="clinic-ehr",
                endpoint="POST /v1/predictions",
                status=200,
            )
        )
    if engine.dialect.name != "sqlite":  # a SQLite database is upgraded by the service itself
        status, body = readiness(database_url)
        assert status == 503
        assert "made before schema migrations" in body["reason"]
        assert "alliance-risk db upgrade" in body["reason"]
    code, output = db_upgrade(database_url)
    assert code == 0, output
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert connection.execute(select(AuditRecord.request_id)).scalars().all() == [
            "before-migrations"
        ]
    assert readiness(database_url)[0] == 200


def test_a_service_on_a_database_behind_its_code_is_not_ready_until_upgraded(
    database_url: str, engine: Engine, trained_model: TrainingOutcome
) -> None:
    if engine.dialect.name == "sqlite":
        # SQLite lives beside the service, which brings it up to date when it starts.
        assert readiness(database_url)[0] == 200
        assert current_revision(engine) == head_revision()
        return
    status, body = readiness(database_url)
    assert status == 503
    assert "no schema yet" in body["reason"]
    assert "alliance-risk db upgrade" in body["reason"]
    assert db_upgrade(database_url)[0] == 0
    assert readiness(database_url)[0] == 200


def test_a_service_on_a_database_ahead_of_its_code_is_not_ready_and_upgrade_refuses(
    database_url: str, engine: Engine, trained_model: TrainingOutcome
) -> None:
    assert db_upgrade(database_url)[0] == 0
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    status, body = readiness(database_url)
    assert status == 503
    assert "revision 9999, newer than this code" in body["reason"]
    code, output = db_upgrade(database_url)
    assert code == 1
    assert "newer than this code" in output
    listing = CliRunner().invoke(
        cli, ["audit"], env={"ALLIANCE_RISK_AUDIT_DATABASE_URL": database_url}
    )
    assert listing.exit_code == 1
    assert "revision 9999, newer" in listing.output
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AuditRecord)).scalar() == 0
