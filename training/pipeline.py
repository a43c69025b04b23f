"""`alliance-risk train`: validate, fit, evaluate, log and register, in that order.

One run block for every back-end (this machine or a Dask cluster). Invalid data stop the
run before anything is written to MLflow, so no model is ever registered from data that
broke the contract.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow

from data_schemas.problems import DataValidationError
from data_schemas.tables import table_files
from features.labels import OutcomeDefinitions
from models.store import StoreSettings
from training.backends import Backend, SingleMachine
from training.boosting import BoosterParameters
from training.evaluation import BootstrapCluster
from training.fitting import FittedModel
from training.held_out import OracleFile
from training.sample_size import SampleSizeCheck, SampleSizeError, check_sample_size
from training.splits import SplitStrategy
from training.subgroups import MIN_SUBGROUP_EVENTS
from training.tracking import ensure_experiment, log_and_register

DEFAULT_EXPERIMENT = "alliance-risk"
SYNTHETIC_MARKER = "parameters.json"


class SmallSampleWarning(UserWarning):
    """The training data are below the minimum sample size for an outcome."""


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


def run_parameters(
    data: Path,
    summary: dict[str, object],
    *,
    seed: int,
    strategy: SplitStrategy,
    tune_trials: int,
    n_boot: int,
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT,
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS,
    allow_small_sample: bool = False,
) -> dict[str, object]:
    """The parameters MLflow records for a training run, single machine or cluster alike."""
    return {
        "data_path": str(data.resolve()),
        "seed": seed,
        "split_strategy": strategy.value,
        "tune_trials": tune_trials,
        "n_boot": n_boot,
        "bootstrap_cluster": bootstrap_cluster.value,
        "subgroup_min_events": subgroup_min_events,
        "allow_small_sample": allow_small_sample,
        **{f"data_{key}": value for key, value in summary.items()},
    }


def train(
    data: Path,
    *,
    backend: Backend | None = None,
    store: StoreSettings | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    tune_trials: int = 0,
    n_boot: int = 200,
    as_of: dt.date | None = None,
    violence_horizon_days: int | None = None,
    exclude_features: tuple[str, ...] = (),
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT,
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS,
    allow_small_sample: bool = False,
    report_sample_size: Callable[[SampleSizeCheck], None] | None = None,
) -> TrainingOutcome:
    """Train both outcome models on a clinic data folder and register a new model version.

    `as_of` is the export date, where follow-up of ongoing episodes ends (default: the
    latest date in the data; a date before any date in the data is refused with every
    such cell). `violence_horizon_days` limits the violence label to that many days after
    each landmark session (default: the rest of the episode). `exclude_features` leaves
    registry features out of the model (listed in its card).

    `backend` says where rows are built and boosters fitted: this machine (the default) or
    a Dask cluster (`training.distributed.backend.DaskCluster`). The run is the same.
    `store` says where MLflow keeps it (default: as the environment configures it).

    Before anything is fitted or logged, each outcome's training events are checked
    against Riley et al.'s minimum sample size (`training.sample_size`) and passed to
    `report_sample_size`: below the minimum a `SmallSampleWarning` is issued; below the
    floor a `SampleSizeError` is raised unless `allow_small_sample`.
    """
    backend = backend or SingleMachine()
    store = store or StoreSettings()
    loaded = backend.load(data)
    if as_of is not None and as_of < loaded.latest_date:
        raise DataValidationError(backend.dates_after(loaded, as_of))
    definitions = OutcomeDefinitions(
        as_of=as_of or loaded.latest_date,
        violence_horizon_days=violence_horizon_days,
    )
    sample_size = check_sample_size(
        backend.label_counts(loaded, strategy=strategy, seed=seed, definitions=definitions),
        small_sample_allowed=allow_small_sample,
        exclude_features=exclude_features,
    )
    if report_sample_size is not None:
        report_sample_size(sample_size)
    if sample_size.below_floor and not allow_small_sample:
        raise SampleSizeError(sample_size)
    if sample_size.below_minimum:
        warnings.warn(
            "fewer training clients than Riley et al.'s minimum sample size for "
            + ", ".join(sample_size.below_minimum),
            SmallSampleWarning,
            stacklevel=2,
        )
    summary = data_summary(
        data,
        n_clients=loaded.n_clients,
        n_therapists=loaded.n_therapists,
        n_sessions=loaded.n_sessions,
    )
    experiment_id = ensure_experiment(experiment, store)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{backend.run_name}-seed-{seed}"):
        parameters = {"dropout": BoosterParameters(), "violence": BoosterParameters()}
        if tune_trials > 0:
            parameters = backend.tune(
                loaded,
                strategy=strategy,
                trials=tune_trials,
                seed=seed,
                definitions=definitions,
                exclude_features=exclude_features,
            )
        fitted = backend.fit_and_evaluate(
            loaded,
            seed=seed,
            strategy=strategy,
            parameters=parameters,
            oracle=OracleFile.in_folder(data),
            n_boot=n_boot,
            synthetic=bool(summary["synthetic"]),
            training_summary=summary,
            definitions=definitions,
            exclude_features=exclude_features,
            bootstrap_cluster=bootstrap_cluster,
            subgroup_min_events=subgroup_min_events,
        )
        fitted.sample_size = sample_size
        run_id, version = log_and_register(
            fitted,
            run_params={
                **run_parameters(
                    data,
                    summary,
                    seed=seed,
                    strategy=strategy,
                    tune_trials=tune_trials,
                    n_boot=n_boot,
                    bootstrap_cluster=bootstrap_cluster,
                    subgroup_min_events=subgroup_min_events,
                    allow_small_sample=allow_small_sample,
                ),
                **backend.run_params(loaded),
                **definitions.as_params(),
                "excluded_features": ",".join(exclude_features) or "(none)",
            },
            parameters=parameters,
            n_boot=n_boot,
        )
    return TrainingOutcome(fitted=fitted, run_id=run_id, version=version)
