"""`alliance-risk train`: validate, fit, evaluate, log and register, in that order.

Invalid data stop the run before anything is written to MLflow, so no model is ever
registered from data that broke the contract.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from data_schemas.tables import load_clinic_data, table_files
from training.boosting import BoosterParameters
from training.fitting import FittedModel, fit_and_evaluate
from training.splits import SplitStrategy
from training.tracking import ensure_experiment, log_and_register
from training.tuning import tune_parameters

DEFAULT_EXPERIMENT = "alliance-risk"
SYNTHETIC_MARKER = "parameters.json"


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run produced."""

    fitted: FittedModel
    run_id: str
    version: str


def content_hash(folder: Path) -> str:
    """SHA-256 of the three tables' files, so a run can be traced to its exact data."""
    digest = hashlib.sha256()
    for name in ("clients", "sessions", "therapists"):
        for path in table_files(folder, name):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def is_synthetic(folder: Path) -> bool:
    """A folder written by `alliance-risk synth` carries its generator parameters."""
    marker = folder / SYNTHETIC_MARKER
    if not marker.exists():
        return False
    return bool(json.loads(marker.read_text()).get("synthetic", False))


def data_summary(
    folder: Path, *, n_clients: int, n_therapists: int, n_sessions: int
) -> dict[str, object]:
    """Row counts, content hash and provenance of a training folder, logged with the run."""
    return {
        "n_clients": n_clients,
        "n_therapists": n_therapists,
        "n_sessions": n_sessions,
        "content_hash": content_hash(folder),
        "synthetic": is_synthetic(folder),
    }


def read_oracle(folder: Path) -> pd.DataFrame | None:
    """The true risks a synthetic cohort ships with, to measure how close the model gets."""
    path = folder / "oracle.parquet"
    return pd.read_parquet(path) if path.exists() else None


def run_parameters(
    data: Path,
    summary: dict[str, object],
    *,
    seed: int,
    strategy: SplitStrategy,
    tune_trials: int,
    n_boot: int,
) -> dict[str, object]:
    """The parameters MLflow records for a training run, single machine or cluster alike."""
    return {
        "data_path": str(data.resolve()),
        "seed": seed,
        "split_strategy": strategy.value,
        "tune_trials": tune_trials,
        "n_boot": n_boot,
        **{f"data_{key}": value for key, value in summary.items()},
    }


def train(
    data: Path,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    tune_trials: int = 0,
    n_boot: int = 200,
) -> TrainingOutcome:
    """Train both outcome models on a clinic data folder and register a new model version."""
    tables = load_clinic_data(data, require_outcomes=True)
    summary = data_summary(
        data,
        n_clients=len(tables.clients),
        n_therapists=len(tables.therapists),
        n_sessions=len(tables.sessions),
    )
    experiment_id = ensure_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-seed-{seed}"):
        parameters = {"dropout": BoosterParameters(), "violence": BoosterParameters()}
        if tune_trials > 0:
            parameters = tune_parameters(tables, strategy=strategy, trials=tune_trials, seed=seed)
        fitted = fit_and_evaluate(
            tables,
            seed=seed,
            strategy=strategy,
            parameters=parameters,
            oracle=read_oracle(data),
            n_boot=n_boot,
            synthetic=bool(summary["synthetic"]),
            training_summary=summary,
        )
        run_id, version = log_and_register(
            fitted,
            run_params=run_parameters(
                data, summary, seed=seed, strategy=strategy, tune_trials=tune_trials, n_boot=n_boot
            ),
            parameters=parameters,
            n_boot=n_boot,
        )
    return TrainingOutcome(fitted=fitted, run_id=run_id, version=version)
