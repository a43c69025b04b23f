"""The audit trail loses nothing: SIGKILL the server in the middle of a burst of requests,
then every request that got a 200 has its record and the database is intact.

Run against SQLite (WAL) and against a real PostgreSQL cluster started for the test.
"""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from pathlib import Path

import httpx
from credentials import CLINIC_KEY, key_header
from postgres import migrated
from security_env import server_environment
from servers import start_server
from sqlalchemy import create_engine, text

from data_schemas.examples import EXAMPLE_HISTORY
from service.audit.store import AuditTrail
from training.pipeline import TrainingOutcome

SENDERS = 4
#: Answers to collect before the kill, so it lands while requests are in flight.
ANSWERS_BEFORE_KILL = 24


def burst_then_kill(url: str, pid: int) -> dict[str, str]:
    """Send requests from several threads, SIGKILL the server mid-burst; the request id and
    client id of every 200 received."""
    answered: dict[str, str] = {}
    lock = threading.Lock()
    killed = threading.Event()

    def send(sender: int) -> None:
        with httpx.Client(base_url=url, headers=key_header(), timeout=10) as http:
            for number in range(10_000):
                body = copy.deepcopy(EXAMPLE_HISTORY)
                body["client"]["client_id"] = f"burst-{sender}-{number}"
                try:
                    response = http.post("/v1/predictions", json=body)
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    with lock:
                        answered[response.headers["X-Request-ID"]] = body["client"]["client_id"]
                if killed.is_set():
                    return

    threads = [threading.Thread(target=send, args=(i,)) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(answered) < ANSWERS_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    killed.set()
    for thread in threads:
        thread.join(timeout=30)
    return answered


def assert_every_answer_was_recorded(database_url: str, answered: dict[str, str]) -> None:
    assert len(answered) >= ANSWERS_BEFORE_KILL
    trail = AuditTrail(database_url, HMAC_KEY.encode())
    try:
        records = {record.request_id: record for record in trail.records()}
        missing = set(answered) - set(records)
        assert not missing, f"{len(missing)} answered requests have no audit record"
        for request_id, client_id in answered.items():
            record = records[request_id]
            assert (record.status, record.caller) == (200, "clinic-ehr")
            assert record.client_hash == trail.client_hash(client_id)
        trail.write(
            request_id="after-the-crash",
            caller="test",
            endpoint="POST /v1/predictions",
            status=200,
            model_version=None,
            clients=[],
        )
        assert trail.records()[-1].request_id == "after-the-crash"
    finally:
        trail.dispose()


HMAC_KEY = "durability-test-key-0123456789"


def run_burst(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = server_environment(
        audit_database_url=database_url, audit_hmac_key=HMAC_KEY, clinic_key=CLINIC_KEY
    )
    server = start_server(env, tmp_path / "server.log")
    try:
        return burst_then_kill(server.url, server.process.pid)
    finally:
        server.stop(signal.SIGKILL)


def test_sigkill_mid_burst_loses_no_record_in_sqlite(
    trained_model: TrainingOutcome, tmp_path: Path
) -> None:
    database = tmp_path / "audit.db"
    answered = run_burst(f"sqlite:///{database}", tmp_path)
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
    assert_every_answer_was_recorded(f"sqlite:///{database}", answered)


def test_sigkill_mid_burst_loses_no_record_in_postgresql(
    trained_model: TrainingOutcome, postgres_url: str, tmp_path: Path
) -> None:
    answered = run_burst(migrated(postgres_url), tmp_path)
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM audit_records")).scalar()
        assert (
            connection.execute(text("SELECT count(DISTINCT id) FROM audit_records")).scalar()
            == rows
        )
    engine.dispose()
    assert_every_answer_was_recorded(postgres_url, answered)
