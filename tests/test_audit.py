"""The audit trail: one record per call, client ids only as keyed hashes, nothing released
unrecorded, and the `alliance-risk audit` listing."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from credentials import CLINIC_KEY, OPS_KEY, key_header, secured_settings
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from alliance_risk_cli import app as cli
from data_schemas.examples import EXAMPLE_HISTORY
from service.app import create_app
from service.audit.listing import parse_since
from service.audit.store import AuditTrail
from training.pipeline import TrainingOutcome

HMAC_KEY = "audit-test-key-0123456789abcdef"


def history_of(client_id: str) -> dict:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"]["client_id"] = client_id
    return body


@pytest.fixture(scope="module")
def audit_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.db'}"


@pytest.fixture(scope="module")
def app_client(trained_model: TrainingOutcome, audit_url: str) -> Iterator[TestClient]:
    settings = secured_settings(audit_database_url=audit_url, audit_hmac_key=HMAC_KEY)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The module's app with an empty audit trail."""
    app_client.app.state.audit_trail.ensure_schema()
    with app_client.app.state.audit_trail.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records"))
    return app_client


def records(audit_url: str) -> list[dict]:
    trail = AuditTrail(audit_url, None)
    try:
        from service.audit.listing import as_row

        return [as_row(record) for record in trail.records()]
    finally:
        trail.dispose()


def test_a_prediction_writes_one_record_with_caller_model_hash_and_result(
    client: TestClient, audit_url: str, trained_model: TrainingOutcome
) -> None:
    response = client.post("/v1/predictions", json=history_of("client-4711"), headers=key_header())
    assert response.status_code == 200
    body = response.json()
    [record] = records(audit_url)
    assert record["request_id"] == body["request_id"] == response.headers["X-Request-ID"]
    assert record["caller"] == "clinic-ehr"
    assert record["endpoint"] == "POST /v1/predictions"
    assert record["status"] == 200
    assert record["model_version"] == trained_model.version
    assert record["client_hash"] == AuditTrail(audit_url, HMAC_KEY.encode()).client_hash(
        "client-4711"
    )
    for outcome in ("dropout", "violence"):
        assert record["outcomes"][outcome] == {
            "probability": body["predictions"][outcome]["probability"],
            "band": body["predictions"][outcome]["band"],
        }


def test_client_ids_are_stored_only_as_keyed_hashes(client: TestClient, audit_url: str) -> None:
    client.post("/v1/predictions", json=history_of("client-4711"), headers=key_header())
    stored = Path(audit_url.removeprefix("sqlite:///"))
    raw = b"".join(path.read_bytes() for path in stored.parent.glob("audit.db*"))
    assert b"client-4711" not in raw
    other_key = AuditTrail(audit_url, b"a-different-key-0123456789")
    assert records(audit_url)[0]["client_hash"] != other_key.client_hash("client-4711")


def test_a_batch_writes_one_record_per_client(client: TestClient, audit_url: str) -> None:
    bad = history_of("client-3")
    bad["sessions"][0]["alliance_score"] = 99
    items = [history_of("client-1"), history_of("client-2"), bad]
    response = client.post("/v1/predictions:batch", json={"items": items}, headers=key_header())
    assert response.status_code == 200
    found = records(audit_url)
    assert [(r["item_index"], r["item_status"]) for r in found] == [(0, 200), (1, 200), (2, 422)]
    assert {r["request_id"] for r in found} == {response.json()["request_id"]}
    assert found[2]["outcomes"] is None
    assert len({r["client_hash"] for r in found}) == 3


def test_refused_calls_are_recorded_too(client: TestClient, audit_url: str) -> None:
    client.post("/v1/predictions", json=history_of("client-1"))
    client.post("/admin/reload", headers=key_header(CLINIC_KEY))
    client.post("/v1/predictions", json={"client": {}}, headers=key_header())
    found = records(audit_url)
    assert [(r["caller"], r["endpoint"], r["status"]) for r in found] == [
        ("(unidentified)", "POST /v1/predictions", 401),
        ("clinic-ehr", "POST /admin/reload", 403),
        ("clinic-ehr", "POST /v1/predictions", 422),
    ]


def test_open_endpoints_are_not_audited(client: TestClient, audit_url: str) -> None:
    client.get("/healthz")
    client.get("/readyz")
    assert records(audit_url) == []


def test_an_answer_that_cannot_be_recorded_is_not_released(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(client.app.state.audit_trail, "commit", broken)
    response = client.post("/v1/predictions", json=history_of("client-1"), headers=key_header())
    assert response.status_code == 503
    assert response.json()["title"] == "Audit trail unavailable"
    assert "probability" not in response.text


def test_sqlite_audit_database_runs_in_wal_mode(client: TestClient) -> None:
    with client.app.state.audit_trail.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_readiness_reports_an_unreachable_audit_database(
    trained_model: TrainingOutcome, tmp_path: Path
) -> None:
    (tmp_path / "blocked").write_text("a file where a folder should be")
    settings = secured_settings(audit_database_url=f"sqlite:///{tmp_path / 'blocked' / 'audit.db'}")
    with TestClient(create_app(settings)) as unready:
        response = unready.get("/readyz")
        assert response.status_code == 503
        assert "audit database" in response.json()["reason"]
        predicted = unready.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
        assert predicted.status_code == 503


def test_the_audit_command_lists_records_by_time_and_caller(
    client: TestClient, audit_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post("/v1/predictions", json=history_of("client-1"), headers=key_header())
    client.post("/admin/reload", headers=key_header(OPS_KEY))
    monkeypatch.setenv("ALLIANCE_RISK_AUDIT_DATABASE_URL", audit_url)
    runner = CliRunner()

    listed = runner.invoke(cli, ["audit", "--caller", "clinic-ehr", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["caller"], r["endpoint"]) for r in rows] == [("clinic-ehr", "POST /v1/predictions")]

    assert runner.invoke(cli, ["audit", "--since", "1h", "--json"]).output.count("\n") == 2
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert (
        runner.invoke(cli, ["audit", "--since", future]).output.strip() == "no audit records match"
    )
    table = runner.invoke(cli, ["audit"], env={"COLUMNS": "200"})
    assert "clinic-ehr" in table.output
    assert "ops" in table.output
    assert runner.invoke(cli, ["audit", "--since", "yesterday"]).exit_code == 2


def test_since_takes_dates_times_and_durations() -> None:
    now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    assert parse_since("24h", now) == dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC)
    assert parse_since("2w", now) == dt.datetime(2026, 2, 24, 12, 0, tzinfo=dt.UTC)
    assert parse_since("2026-03-01") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert parse_since("2026-03-01T14:00+01:00") == dt.datetime(2026, 3, 1, 13, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="duration"):
        parse_since("last week")
