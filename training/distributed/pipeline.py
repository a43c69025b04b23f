"""`alliance-risk train --dask`: validate, fit and evaluate on a Dask cluster, then log and
register from the driver exactly as `training.pipeline.train` does.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from distributed import Client

from data_schemas.tables import ClinicTables
from training.boosting import BoosterParameters
from training.distributed.fitting import fit_and_evaluate_on_cluster
from training.distributed.partitions import load_bucketed
from training.pipeline import (
    DEFAULT_EXPERIMENT,
    TrainingOutcome,
    data_summary,
    read_oracle,
    run_parameters,
)
from training.splits import SplitStrategy
from training.tracking import ensure_experiment, log_and_register


def default_buckets(client: Client) -> int:
    """Two buckets per worker thread: enough to balance, few enough to keep tasks large."""
    return max(2, 2 * sum(client.nthreads().values()))


def _sizes(bucket: ClinicTables) -> tuple[int, int]:
    """Clients and sessions in one bucket, counted where the bucket lives."""
    return len(bucket.clients), len(bucket.sessions)


def train_on_cluster(
    data: Path,
    client: Client,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    n_boot: int = 200,
    n_buckets: int | None = None,
) -> TrainingOutcome:
    """Train both outcome models on the cluster and register a new model version."""
    n_buckets = n_buckets or default_buckets(client)
    tables = load_bucketed(client, data, n_buckets=n_buckets, require_outcomes=True)
    sizes = client.gather(client.map(_sizes, tables.buckets))
    summary = data_summary(
        data,
        n_clients=sum(n_clients for n_clients, _ in sizes),
        n_therapists=len(tables.therapists),
        n_sessions=sum(n_sessions for _, n_sessions in sizes),
    )
    parameters = {"dropout": BoosterParameters(), "violence": BoosterParameters()}
    experiment_id = ensure_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-dask-seed-{seed}"):
        fitted = fit_and_evaluate_on_cluster(
            client,
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
            run_params={
                **run_parameters(
                    data, summary, seed=seed, strategy=strategy, tune_trials=0, n_boot=n_boot
                ),
                "dask_scheduler": client.scheduler.address,
                "dask_buckets": n_buckets,
            },
            parameters=parameters,
            n_boot=n_boot,
        )
    return TrainingOutcome(fitted=fitted, run_id=run_id, version=version)
