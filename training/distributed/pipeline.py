"""`alliance-risk train --dask`: validate, fit and evaluate on a Dask cluster, then log and
register from the driver exactly as `training.pipeline.train` does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dask
import mlflow
import pandas as pd
from distributed import Client

from data_schemas.tables import ClinicTables
from training.boosting import BoosterParameters
from training.distributed.fitting import fit_and_evaluate_on_cluster
from training.distributed.partitions import TABLES, load_bucketed, table_source
from training.pipeline import DEFAULT_EXPERIMENT, TrainingOutcome, is_synthetic
from training.splits import SplitStrategy
from training.tracking import ensure_experiment, log_and_register


def default_buckets(client: Client) -> int:
    """Two buckets per worker thread: enough to balance, few enough to keep tasks large."""
    return max(2, 2 * sum(client.nthreads().values()))


def dataset_hash(folder: Path) -> str:
    """SHA-256 of the three tables' files (every file of a partitioned dataset).

    Equal to `training.pipeline.content_hash` for a folder of three plain files.
    """
    digest = hashlib.sha256()
    for name in sorted(TABLES):
        source = table_source(folder, name)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in files:
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


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
    oracle_path = data / "oracle.parquet"
    oracle = pd.read_parquet(oracle_path) if oracle_path.exists() else None
    sizes = client.compute([dask.delayed(_sizes)(bucket) for bucket in tables.buckets], sync=True)
    summary = {
        "n_clients": sum(n_clients for n_clients, _ in sizes),
        "n_therapists": len(tables.therapists),
        "n_sessions": sum(n_sessions for _, n_sessions in sizes),
        "content_hash": dataset_hash(data),
        "synthetic": is_synthetic(data),
    }
    parameters = {"dropout": BoosterParameters(), "violence": BoosterParameters()}
    experiment_id = ensure_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-dask-seed-{seed}"):
        fitted = fit_and_evaluate_on_cluster(
            client,
            tables,
            seed=seed,
            strategy=strategy,
            parameters=parameters,
            oracle=oracle,
            n_boot=n_boot,
            synthetic=summary["synthetic"],
            training_summary=summary,
        )
        run_id, version = log_and_register(
            fitted,
            run_params={
                "data_path": str(data.resolve()),
                "seed": seed,
                "split_strategy": strategy.value,
                "tune_trials": 0,
                "n_boot": n_boot,
                "dask_scheduler": client.scheduler.address,
                "dask_buckets": n_buckets,
                **{f"data_{k}": v for k, v in summary.items()},
            },
            parameters=parameters,
            n_boot=n_boot,
        )
    return TrainingOutcome(fitted=fitted, run_id=run_id, version=version)
