"""Faulty training data through `alliance-risk train`: a clear error, a non-zero exit, and
nothing registered (or even logged) in MLflow."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance_risk_cli import app
from models.store import MODEL_NAME, StoreSettings, configure_mlflow
from training.synthetic import SyntheticCohort, write_cohort


@pytest.fixture(scope="module")
def csv_cohort(small_cohort: SyntheticCohort, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("csv_cohort")
    write_cohort(small_cohort, folder, file_format="csv")
    return folder


def truncate_parquet(folder: Path) -> None:
    path = folder / "sessions.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def wrong_types_in_csv(folder: Path) -> None:
    clients = pd.read_csv(folder / "clients.csv", dtype=str, keep_default_na=False)
    clients.loc[clients.index[4], "age_years"] = "thirty-two"
    clients.loc[clients.index[9], "intake_date"] = "next Tuesday"
    clients.to_csv(folder / "clients.csv", index=False)


def duplicate_client_ids(folder: Path) -> None:
    clients = pd.read_csv(folder / "clients.csv", dtype=str, keep_default_na=False)
    clients.loc[clients.index[7], "client_id"] = clients.loc[clients.index[2], "client_id"]
    clients.to_csv(folder / "clients.csv", index=False)


def empty_file(folder: Path) -> None:
    (folder / "therapists.csv").write_text("")


def header_only(folder: Path) -> None:
    path = folder / "sessions.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")


def v1_outcome_columns(folder: Path) -> None:
    clients = pd.read_csv(folder / "clients.csv", dtype=str, keep_default_na=False)
    clients["dropout"] = clients["episode_end_reason"].eq("dropout").map({True: "yes", False: "no"})
    clients.to_csv(folder / "clients.csv", index=False)


def session_after_the_end(folder: Path) -> None:
    clients = pd.read_csv(folder / "clients.csv", dtype=str, keep_default_na=False)
    ended = clients.index[clients["episode_end_date"] != ""][3]
    clients.loc[ended, "episode_end_date"] = clients.loc[ended, "intake_date"]
    clients.to_csv(folder / "clients.csv", index=False)


def registry_size() -> tuple[int, int]:
    """(registered versions, logged runs) in the test store."""
    configure_mlflow(StoreSettings())
    client = mlflow.MlflowClient()
    versions = len(client.search_model_versions(f"name='{MODEL_NAME}'"))
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = len(client.search_runs(experiments)) if experiments else 0
    return versions, runs


@pytest.mark.parametrize(
    ("source", "damage", "expected"),
    [
        ("parquet", truncate_parquet, "sessions.parquet is not a readable Parquet file"),
        ("csv", wrong_types_in_csv, "age_years"),
        ("csv", duplicate_client_ids, "client_id"),
        ("csv", empty_file, "therapists.csv is empty"),
        ("csv", header_only, "sessions.csv has no rows"),
        ("csv", v1_outcome_columns, "data contract v1 column"),
        ("csv", session_after_the_end, "a session after the episode ended"),
    ],
    ids=[
        "truncated-parquet",
        "csv-wrong-types",
        "duplicated-ids",
        "empty-file",
        "header-only",
        "contract-v1",
        "session-after-end",
    ],
)
def test_faulty_training_data_exit_non_zero_and_register_nothing(
    mlflow_home: Path,
    small_cohort_dir: Path,
    csv_cohort: Path,
    tmp_path: Path,
    source: str,
    damage: Callable[[Path], None],
    expected: str,
) -> None:
    folder = tmp_path / "data"
    shutil.copytree(small_cohort_dir if source == "parquet" else csv_cohort, folder)
    damage(folder)
    before = registry_size()
    result = CliRunner().invoke(
        app, ["train", "--data", str(folder), "--bootstrap", "20"], env={"COLUMNS": "250"}
    )
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert expected in output, output
    assert "nothing was registered" in output or "Nothing was used" in output
    assert registry_size() == before


def test_an_export_date_before_the_data_is_refused_naming_every_later_date(
    mlflow_home: Path, small_cohort_dir: Path, small_cohort: SyntheticCohort
) -> None:
    before = registry_size()
    as_of = "2023-12-01"
    result = CliRunner().invoke(
        app,
        ["train", "--data", str(small_cohort_dir), "--as-of", as_of, "--bootstrap", "20"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "is after the export date 2023-12-01 (--as-of)" in output
    clients, sessions = small_cohort.tables.clients, small_cohort.tables.sessions
    later = (sessions["session_date"] > as_of).sum() + sum(
        (clients[column] > as_of).sum()
        for column in ("intake_date", "episode_end_date", "first_violence_date")
    )
    assert f"{later} problem(s) found" in output
    assert "nothing was registered" in output
    assert registry_size() == before
