"""`alliance-risk score` runs where `training` cannot be imported at all, as in the Docker image.

Every process involved (the command, and for `--dask` the scheduler and its worker) starts
with a `sitecustomize` that makes any import of `training` fail, so a stray import on any
path (the command line, the scoring code, a function shipped to a worker) fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from training.pipeline import TrainingOutcome

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
BLOCKER = """
import importlib.abc
import sys


class _NoTraining(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "training" or name.startswith("training."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, _NoTraining())
"""


@pytest.fixture(scope="module")
def without_training(
    tmp_path_factory: pytest.TempPathFactory, mlflow_home: Path, trained_model: TrainingOutcome
) -> dict[str, str]:
    """An environment whose Python processes cannot import `training`, with the champion."""
    folder = tmp_path_factory.mktemp("no_training")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(folder)
    env["ALLIANCE_RISK_HOME"] = str(mlflow_home)
    probe = subprocess.run(
        [sys.executable, "-c", "import training"], env=env, capture_output=True, check=False
    )
    assert probe.returncode != 0
    assert b"blocked" in probe.stderr
    return env


@pytest.fixture(scope="module")
def blocked_cluster(
    without_training: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A scheduler and one worker, both unable to import `training`; yields the address."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    common = {"env": without_training, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", scheduler_file],
        **common,
    )  # fmt: skip
    worker = subprocess.Popen(
        [BIN / "dask", "worker", "--scheduler-file", scheduler_file, "--nthreads", "1",
         "--no-dashboard", "--host", "127.0.0.1"],
        **common,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield json.loads(scheduler_file.read_text())["address"]
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def _score(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "alliance-risk", "score", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _clients_with_sessions(folder: Path) -> int:
    return pd.read_parquet(folder / "sessions.parquet")["client_id"].nunique()


def test_score_on_one_machine_needs_no_training_package(
    without_training: dict[str, str], small_cohort_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = _score(
        without_training, "--data", str(small_cohort_dir), "--out", str(out), "--explain"
    )
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(out)
    assert len(scored) == _clients_with_sessions(small_cohort_dir)
    assert "dropout_shap_alliance_z_last" in scored.columns


def test_score_on_a_dask_cluster_needs_no_training_package(
    without_training: dict[str, str], blocked_cluster: str, small_cohort_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    result = _score(
        without_training,
        "--data",
        str(small_cohort_dir),
        "--out",
        str(out),
        "--explain",
        "--dask",
        blocked_cluster,
    )
    assert result.returncode == 0, result.stderr
    assert len(pd.read_parquet(out)) == _clients_with_sessions(small_cohort_dir)
