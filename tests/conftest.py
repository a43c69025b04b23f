"""Shared fixtures: a small synthetic cohort with a fixed seed, in memory and on disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import find_chromium
from homes import private_home
from postgres import postgres_binaries, throwaway_cluster

from training.pipeline import SmallSampleWarning, TrainingOutcome, train
from training.promotion import promote
from training.synthetic import SyntheticCohort, generate_cohort, write_cohort


def pytest_configure(config: pytest.Config) -> None:
    """Forget a terminal width the test runner set (pytest-xdist's workers set `COLUMNS=80`).

    The commands' rich consoles are made when their module is first imported and keep a
    `COLUMNS` present then; without one they read it at each print, so a test's runner can
    give its command a wide terminal (`env={"COLUMNS": ...}`) however the tests are run.
    """
    os.environ.pop("COLUMNS", None)


@pytest.fixture(scope="session")
def small_cohort() -> SyntheticCohort:
    """1,500 synthetic clients (seed 11) with outcomes and oracle risks."""
    return generate_cohort(1500, seed=11)


@pytest.fixture(scope="session")
def small_cohort_dir(
    small_cohort: SyntheticCohort, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """`small_cohort` written as Parquet with `write_cohort` (tables, oracle, parameters)."""
    folder = tmp_path_factory.mktemp("small_cohort")
    write_cohort(small_cohort, folder, file_format="parquet")
    return folder


@pytest.fixture(scope="session")
def mlflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private data directory, so tests never touch the developer's local MLflow store."""
    with private_home(tmp_path_factory.mktemp("alliance_risk_home")) as home:
        yield home


@pytest.fixture(scope="session")
def trained_model(mlflow_home: Path, small_cohort_dir: Path) -> TrainingOutcome:
    """A model trained on `small_cohort`, registered and promoted to champion.

    1,500 clients are far below the minimum sample size (35 training clients with
    violence, 152 with a dropout), so training is allowed below the floor and warns.
    """
    with pytest.warns(SmallSampleWarning, match="minimum sample size"):
        outcome = train(small_cohort_dir, seed=0, n_boot=20, allow_small_sample=True)
    decision = promote(outcome.version)
    assert decision.promoted
    return outcome


@pytest.fixture(scope="session", autouse=True)
def local_development_auth() -> Iterator[None]:
    """Apps built from `Settings()` in tests run with authentication off, on loopback;
    the security tests pass their own settings."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALLIANCE_RISK_AUTH", "disabled")
        yield


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for one test module; a failure, not a skip, in CI."""
    binaries = postgres_binaries()
    if binaries is None:
        message = "PostgreSQL (initdb, pg_ctl) is not installed; apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with throwaway_cluster(binaries) as url:
        yield url


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium for the real-browser tests (see `browser`)."""
    return find_chromium()
