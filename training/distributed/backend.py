"""`alliance-risk train --dask`: the Dask back-end of `training.pipeline.train`.

The driver (the machine running the command) reads nothing but the clients table and the
therapists; every bucket of whole clients is validated and turned into rows on its worker,
and LightGBM trains data-parallel there (see `training.distributed.fitting`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client

from data_schemas.buckets import BucketedTables, default_buckets, load_bucketed
from data_schemas.problems import Problem
from data_schemas.tables import ClinicTables
from data_schemas.validation import check_as_of
from features.labels import OutcomeDefinitions
from training.backends import LoadedData
from training.boosting import BoosterParameters
from training.distributed.fitting import (
    clients_of,
    fit_and_evaluate_on_cluster,
    latest_date_on_cluster,
)
from training.fitting import FittedModel
from training.sample_size import training_label_counts
from training.splits import SplitStrategy, split_clients


def _sizes(bucket: ClinicTables) -> tuple[int, int]:
    """Clients and sessions in one bucket, counted where the bucket lives."""
    return len(bucket.clients), len(bucket.sessions)


def _dates_after(bucket: ClinicTables, as_of: pd.Timestamp) -> list[Problem]:
    """Rows are the source files' rows: the bucket's tables are indexed by them."""
    return check_as_of(bucket.frames(), as_of)


class DaskCluster:
    """Rows and boosters on the workers of a running Dask cluster."""

    run_name = "train-dask"

    def __init__(self, client: Client, *, n_buckets: int | None = None) -> None:
        self.client = client
        self.n_buckets = n_buckets

    def load(self, data: Path) -> LoadedData:
        n_buckets = self.n_buckets or default_buckets(self.client)
        tables = load_bucketed(self.client, data, n_buckets=n_buckets, require_outcomes=True)
        sizes = self.client.gather(self.client.map(_sizes, tables.buckets))
        return LoadedData(
            tables,
            n_clients=sum(n_clients for n_clients, _ in sizes),
            n_therapists=len(tables.therapists),
            n_sessions=sum(n_sessions for _, n_sessions in sizes),
            latest_date=latest_date_on_cluster(self.client, tables),
        )

    def dates_after(self, loaded: LoadedData, as_of: dt.date) -> list[Problem]:
        tables: BucketedTables = loaded.tables
        found = self.client.gather(
            self.client.map(_dates_after, tables.buckets, as_of=pd.Timestamp(as_of))
        )
        return [problem for bucket in found for problem in bucket]

    def tune(
        self,
        loaded: LoadedData,
        *,
        strategy: SplitStrategy,
        trials: int,
        seed: int,
        definitions: OutcomeDefinitions,
        exclude_features: tuple[str, ...],
    ) -> dict[str, BoosterParameters]:
        raise ValueError("hyperparameter tuning is not available on a Dask cluster")

    def label_counts(
        self,
        loaded: LoadedData,
        *,
        strategy: SplitStrategy,
        seed: int,
        definitions: OutcomeDefinitions,
    ) -> pd.DataFrame:
        """Each bucket counts its own training clients; the counts add up."""
        tables: BucketedTables = loaded.tables
        clients = pd.concat(self.client.gather(self.client.map(clients_of, tables.buckets)))
        split = split_clients(clients.sort_index(), strategy=strategy, seed=seed)
        [train_ids] = self.client.scatter([split.train], broadcast=True)
        counts = self.client.gather(
            self.client.map(
                training_label_counts, tables.buckets, train_ids=train_ids, definitions=definitions
            )
        )
        return sum(counts[1:], counts[0])

    def fit_and_evaluate(self, loaded: LoadedData, **options: Any) -> FittedModel:
        tables: BucketedTables = loaded.tables
        return fit_and_evaluate_on_cluster(self.client, tables, **options)

    def run_params(self, loaded: LoadedData) -> dict[str, object]:
        tables: BucketedTables = loaded.tables
        return {"dask_scheduler": self.client.scheduler.address, "dask_buckets": tables.n_buckets}
