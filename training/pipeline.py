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

from data_schemas.tables import ClinicTables, load_clinic_data
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
    for path in sorted(folder.iterdir()):
        if path.stem in {"clients", "therapists", "sessions"} and path.suffix in {
            ".csv",
            ".parquet",
        }:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def is_synthetic(folder: Path) -> bool:
    """A folder written by `alliance-risk synth` carries its generator parameters."""
    marker = folder / SYNTHETIC_MARKER
    if not marker.exists():
        return False
    return bool(json.loads(marker.read_text()).get("synthetic", False))


def data_summary(tables: ClinicTables, folder: Path) -> dict[str, object]:
    """Row counts, content hash and provenance of a training folder, logged with the run."""
    return {
        "n_clients": len(tables.clients),
        "n_therapists": len(tables.therapists),
        "n_sessions": len(tables.sessions),
        "content_hash": content_hash(folder),
        "synthetic": is_synthetic(folder),
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
    oracle_path = data / "oracle.parquet"
    oracle = pd.read_parquet(oracle_path) if oracle_path.exists() else None
    synthetic = is_synthetic(data)
    summary = data_summary(tables, data)
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
            oracle=oracle,
            n_boot=n_boot,
            synthetic=synthetic,
            training_summary=summary,
        )
        run_id, version = log_and_register(
            fitted,
            run_params={
                "data_path": str(data.resolve()),
                "seed": seed,
                "split_strategy": strategy.value,
                "tune_trials": tune_trials,
                "n_boot": n_boot,
                **{f"data_{k}": v for k, v in summary.items()},
            },
            parameters=parameters,
            n_boot=n_boot,
        )
    return TrainingOutcome(fitted=fitted, run_id=run_id, version=version)
