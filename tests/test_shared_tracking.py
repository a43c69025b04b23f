"""Shared tracking: an MLflow server on PostgreSQL with a shared artifact root.

Training registers there, promotion moves the champion alias there, and a service with
nothing on its own disk but the server's address loads the champion from it. The server
and its database are throwaways on loopback, started for this module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from homes import private_home
from postgres import create_database
from servers import free_port
from sqlalchemy import create_engine, text

from data_schemas.examples import EXAMPLE_HISTORY
from models.store import CHAMPION_ALIAS, MODEL_NAME, StoreSettings, configure_mlflow
from service.app import create_app
from service.settings import Settings
from training.pipeline import TrainingOutcome, train
from training.promotion import promote

pytestmark = pytest.mark.slow

MLFLOW = Path(sys.executable).with_name("mlflow")
#: A fresh backend store runs every MLflow schema migration before the server answers.
START_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class TrackingServer:
    url: str
    database_url: str
    artifact_root: Path


@contextmanager
def mlflow_server(backend_store: str, artifact_root: Path, log_path: Path) -> Iterator[str]:
    """`mlflow server` on a free loopback port, artifacts proxied into `artifact_root`;
    yields its URL and stops its whole process group after."""
    port = free_port()
    # The test process points MLflow at the session's SQLite store; the server must not.
    store_variables = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    environment = {k: v for k, v in os.environ.items() if k not in store_variables}
    # The server's background job runner is not needed to track and register models.
    environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        str(MLFLOW),
        "server",
        "--backend-store-uri",
        backend_store,
        "--artifacts-destination",
        str(artifact_root),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log_path.open("wb") as log:
        # A session of its own: the server runs uvicorn as a child, and both must stop.
        process = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log_path)
        yield url
    finally:
        stop_process_group(process)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n{log}")
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    log = log_path.read_text(errors="replace")
    raise RuntimeError(f"mlflow server was not healthy within {START_TIMEOUT_SECONDS} s:\n{log}")


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def isolated_environment(home: Path) -> Iterator[None]:
    """A private home for the block; after it, the environment as it was and MLflow pointed
    at the session's test store again, whatever the code inside set (MLflow and the
    service's model loader both write MLFLOW_* variables)."""
    saved = dict(os.environ)
    try:
        with private_home(home):
            yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
        configure_mlflow(StoreSettings())


@pytest.fixture(scope="module")
def tracking_server(
    postgres_url: str, mlflow_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrackingServer]:
    """The shared setup: PostgreSQL backend store, one artifact root, one server.

    Needs `mlflow_home` so that `isolated_environment` hands MLflow back to the session's
    private store, never to the developer's `./var`.
    """
    database_url = create_database(postgres_url, "mlflow")
    artifact_root = tmp_path_factory.mktemp("shared_artifacts")
    log_path = tmp_path_factory.mktemp("mlflow_server") / "server.log"
    with mlflow_server(database_url, artifact_root, log_path) as url:
        yield TrackingServer(url, database_url, artifact_root)


@pytest.fixture(scope="module")
def trainer_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trainer_home")


@pytest.fixture(scope="module")
def champion_on_server(
    tracking_server: TrackingServer, trainer_home: Path, small_cohort_dir: Path
) -> TrainingOutcome:
    """A model trained by a data scientist whose MLFLOW_TRACKING_URI is the server, promoted."""
    with isolated_environment(trainer_home):
        os.environ["MLFLOW_TRACKING_URI"] = tracking_server.url
        outcome = train(small_cohort_dir, seed=0, n_boot=20, allow_small_sample=True)
        decision = promote(outcome.version)
    assert decision.promoted, decision.reasons()
    return outcome


def query(database_url: str, sql: str, **parameters: object) -> list[tuple]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), parameters)]
    finally:
        engine.dispose()


def test_training_registers_the_version_in_postgresql(
    tracking_server: TrackingServer, champion_on_server: TrainingOutcome
) -> None:
    versions = query(
        tracking_server.database_url,
        "SELECT run_id FROM model_versions WHERE name = :name AND version = :version",
        name=MODEL_NAME,
        version=int(champion_on_server.version),
    )
    assert versions == [(champion_on_server.run_id,)]


def test_training_puts_the_artifacts_in_the_shared_root_through_the_server(
    tracking_server: TrackingServer, champion_on_server: TrainingOutcome, trainer_home: Path
) -> None:
    [(artifact_uri,)] = query(
        tracking_server.database_url,
        "SELECT artifact_uri FROM runs WHERE run_uuid = :run_id",
        run_id=champion_on_server.run_id,
    )
    assert artifact_uri.startswith("mlflow-artifacts:/")
    assert list(tracking_server.artifact_root.rglob("MLmodel"))
    assert list(tracking_server.artifact_root.rglob("model_card.md"))
    assert not (trainer_home / "mlflow.db").exists()
    assert not (trainer_home / "mlartifacts").exists()


def test_promotion_sets_the_champion_alias_on_the_server(
    tracking_server: TrackingServer, champion_on_server: TrainingOutcome
) -> None:
    aliases = query(
        tracking_server.database_url,
        "SELECT alias, version FROM registered_model_aliases WHERE name = :name",
        name=MODEL_NAME,
    )
    assert aliases == [(CHAMPION_ALIAS, int(champion_on_server.version))]


def test_the_service_serves_the_champion_it_finds_on_the_tracking_server(
    tracking_server: TrackingServer, champion_on_server: TrainingOutcome, tmp_path: Path
) -> None:
    with isolated_environment(tmp_path / "service_home"):
        app = create_app(Settings(tracking_uri=tracking_server.url))
        with TestClient(app) as client:
            ready = client.get("/readyz")
            response = client.post("/v1/predictions", json=EXAMPLE_HISTORY)
    assert ready.status_code == 200, ready.text
    assert ready.json()["model_version"] == champion_on_server.version
    assert response.status_code == 200, response.text
    model = response.json()["model"]
    assert (model["version"], model["alias"]) == (champion_on_server.version, CHAMPION_ALIAS)
