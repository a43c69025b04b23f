"""Model faults: a new champion goes live without downtime, a bad candidate is refused
while the old model keeps serving, and start-up problems leave the service up but not ready."""

from __future__ import annotations

import gc
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from credentials import OPS_KEY, key_header, secured_settings
from fastapi.testclient import TestClient
from homes import private_home

from data_schemas.examples import EXAMPLE_HISTORY
from models.store import MODEL_NAME, StoreSettings, configure_mlflow
from service.app import create_app
from service.model.holder import ModelHolder
from service.model.refresh import ChampionWatcher
from training.pipeline import TrainingOutcome

ALIAS = "live"
URI = f"models:/{MODEL_NAME}@{ALIAS}"


class Registry:
    """A private copy of the test registry, with helpers to add versions and move an alias."""

    def __init__(self, good_version: str) -> None:
        self.client = mlflow.MlflowClient()
        self.good_version = good_version
        self.good = self.client.get_model_version(MODEL_NAME, good_version)

    def copy_of_good(self) -> str:
        """A new version with the same (good) model."""
        return str(
            self.client.create_model_version(
                MODEL_NAME, self.good.source, run_id=self.good.run_id
            ).version
        )

    def corrupted(self, folder: Path) -> str:
        """A new version whose pickled model is cut short."""
        local = Path(mlflow.artifacts.download_artifacts(self.good.source, dst_path=str(folder)))
        pickled = next(local.rglob("python_model.pkl"))
        pickled.write_bytes(pickled.read_bytes()[:200])
        return str(self.client.create_model_version(MODEL_NAME, str(local), run_id=None).version)

    def point(self, version: str) -> None:
        self.client.set_registered_model_alias(MODEL_NAME, ALIAS, version)


@pytest.fixture(scope="module")
def registry(
    trained_model: TrainingOutcome, mlflow_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    copy = tmp_path_factory.mktemp("registry_copy")
    shutil.copy(mlflow_home / "mlflow.db", copy / "mlflow.db")
    with private_home(copy):
        configure_mlflow(StoreSettings())
        registry = Registry(trained_model.version)
        registry.point(trained_model.version)
        yield registry
    configure_mlflow(StoreSettings())


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient]:
    registry.point(registry.good_version)
    with TestClient(create_app(secured_settings(model_uri=URI, rate_limit_per_minute=0))) as app:
        yield app


def served_version(client: TestClient) -> str:
    return client.get("/readyz").json()["model_version"]


def test_a_new_champion_goes_live_on_reload_while_requests_keep_being_answered(
    client: TestClient, registry: Registry
) -> None:
    statuses: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            response = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
            statuses.append(response.status_code)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        new_version = registry.copy_of_good()
        registry.point(new_version)
        reloaded = client.post("/admin/reload", headers=key_header(OPS_KEY))
        time.sleep(0.2)
    finally:
        stop.set()
        asker.join()
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json() == {"status": "loaded", "model_version": new_version}
    assert statuses
    assert set(statuses) == {200}
    answer = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header()).json()
    assert answer["model"]["version"] == new_version


def test_a_candidate_that_fails_to_load_is_refused_and_the_old_model_keeps_serving(
    client: TestClient, registry: Registry, tmp_path: Path
) -> None:
    registry.point(registry.corrupted(tmp_path))
    refused = client.post("/admin/reload", headers=key_header(OPS_KEY))
    assert refused.status_code == 409
    assert f"version {registry.good_version} keeps serving" in refused.json()["detail"]
    assert client.get("/readyz").status_code == 200
    answer = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
    assert answer.status_code == 200
    assert answer.json()["model"]["version"] == registry.good_version


def test_a_candidate_that_fails_its_self_check_is_refused(
    client: TestClient, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.point(registry.copy_of_good())

    def failing_check(predictor: object) -> None:
        raise ValueError("self-check: dropout explanation does not add up")

    monkeypatch.setattr("service.model.holder.self_check", failing_check)
    refused = client.post("/admin/reload", headers=key_header(OPS_KEY))
    assert refused.status_code == 409
    assert "does not add up" in refused.json()["detail"]
    assert served_version(client) == registry.good_version


def test_polling_the_alias_picks_up_a_new_champion(registry: Registry) -> None:
    registry.point(registry.good_version)
    settings = secured_settings(model_uri=URI, model_poll_seconds=0.2)
    with TestClient(create_app(settings)) as polling:
        new_version = registry.copy_of_good()
        registry.point(new_version)
        deadline = time.monotonic() + 20
        while served_version(polling) != new_version and time.monotonic() < deadline:
            time.sleep(0.1)
        assert served_version(polling) == new_version


def test_polling_tries_a_refused_candidate_only_once(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.point(registry.good_version)
    holder = ModelHolder(secured_settings(model_uri=URI))
    assert holder.load()
    watcher = ChampionWatcher(holder)
    registry.point(registry.corrupted(tmp_path))
    assert watcher.check_once() is False
    assert holder.get().version == registry.good_version
    loads = []
    monkeypatch.setattr(holder, "load", lambda: loads.append(1) or False)
    assert watcher.check_once() is False
    assert loads == []


def test_a_corrupted_artifact_at_start_up_leaves_the_service_up_but_not_ready(
    registry: Registry, tmp_path: Path
) -> None:
    registry.point(registry.corrupted(tmp_path))
    with TestClient(create_app(secured_settings(model_uri=URI))) as unready:
        assert unready.get("/healthz").status_code == 200
        ready = unready.get("/readyz")
        assert ready.status_code == 503
        assert "failed to load or pass its self-check" in ready.json()["reason"]
        predicted = unready.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
        assert predicted.status_code == 503
        registry.point(registry.good_version)
        assert unready.post("/admin/reload", headers=key_header(OPS_KEY)).status_code == 200
        assert unready.get("/readyz").status_code == 200


def test_a_missing_alias_at_start_up_is_not_ready_with_the_reason(registry: Registry) -> None:
    settings = secured_settings(model_uri=f"models:/{MODEL_NAME}@no-such-alias")
    with TestClient(create_app(settings)) as unready:
        ready = unready.get("/readyz")
    assert ready.status_code == 503
    assert "could not be loaded from the registry" in ready.json()["reason"]


def test_an_unreachable_tracking_server_at_start_up_is_not_ready_and_fails_fast(
    trained_model: TrainingOutcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("ALLIANCE_RISK_TRACKING_URI", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()
    try:
        with TestClient(create_app(secured_settings())) as unready:
            assert unready.get("/healthz").status_code == 200
            ready = unready.get("/readyz")
    finally:
        monkeypatch.undo()
        configure_mlflow(StoreSettings())
    assert ready.status_code == 503
    assert "could not be loaded from the registry" in ready.json()["reason"]
    assert f"127.0.0.1:{closed_port}" in ready.json()["reason"]
    assert time.monotonic() - started < 60


def test_a_loaded_model_is_kept_out_of_full_garbage_collections(registry: Registry) -> None:
    """What is alive after a load, the model included, is frozen (see `_freeze_long_lived`)."""
    registry.point(registry.good_version)
    holder = ModelHolder(secured_settings(model_uri=URI))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert holder.load()
    assert gc.get_freeze_count() > 0
