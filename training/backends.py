"""Where a training run builds its rows and fits its boosters: one machine or a Dask cluster.

`training.pipeline.train` owns the run itself (validate, open the MLflow run, fit, log,
register) and asks a back-end only for what differs between the two: how the data are read
and validated, where the rows are built and the boosters fitted, and what it adds to the
run's parameters. Both back-ends split with the same `training.fitting.TrainingPlan` and
return the same kind of `FittedModel`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from data_schemas.problems import Problem
from data_schemas.tables import ClinicTables, load_clinic_data
from data_schemas.validation import check_as_of
from features.labels import OutcomeDefinitions
from training.boosting import BoosterParameters
from training.fitting import FittedModel, fit_and_evaluate
from training.sample_size import training_label_counts
from training.splits import SplitStrategy, split_clients
from training.tuning import tune_parameters


@dataclass(frozen=True)
class LoadedData:
    """Validated training data as a back-end holds them, with their row counts and the
    latest date anywhere in them (the default export date)."""

    tables: Any
    n_clients: int
    n_therapists: int
    n_sessions: int
    latest_date: dt.date


class Backend(Protocol):
    """What `training.pipeline.train` needs from the place a run trains in."""

    #: Start of the MLflow run name, e.g. "train" or "train-dask".
    run_name: str

    def load(self, data: Path) -> LoadedData:
        """Read and validate the folder; raise `DataValidationError` with every problem."""
        ...

    def dates_after(self, loaded: LoadedData, as_of: dt.date) -> list[Problem]:
        """Every date in the data after `as_of`, each as a problem naming its cell."""
        ...

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
        """Search booster settings per outcome (inside the active MLflow run)."""
        ...

    def label_counts(
        self,
        loaded: LoadedData,
        *,
        strategy: SplitStrategy,
        seed: int,
        definitions: OutcomeDefinitions,
    ) -> pd.DataFrame:
        """Training clients and clients with an event per outcome, before anything is
        fitted (`training.sample_size.label_counts`)."""
        ...

    def fit_and_evaluate(self, loaded: LoadedData, **options: Any) -> FittedModel:
        """Fit both outcome models and evaluate them on the held-out test clients."""
        ...

    def run_params(self, loaded: LoadedData) -> dict[str, object]:
        """What this back-end adds to the run's logged parameters."""
        ...


class SingleMachine:
    """Everything in this process, on the validated `ClinicTables`."""

    run_name = "train"

    def load(self, data: Path) -> LoadedData:
        tables = load_clinic_data(data, require_outcomes=True)
        return LoadedData(
            tables,
            len(tables.clients),
            len(tables.therapists),
            len(tables.sessions),
            tables.latest_date(),
        )

    def dates_after(self, loaded: LoadedData, as_of: dt.date) -> list[Problem]:
        tables: ClinicTables = loaded.tables
        return check_as_of(tables.frames(), pd.Timestamp(as_of))

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
        return tune_parameters(
            loaded.tables,
            strategy=strategy,
            trials=trials,
            seed=seed,
            definitions=definitions,
            exclude_features=exclude_features,
        )

    def label_counts(
        self,
        loaded: LoadedData,
        *,
        strategy: SplitStrategy,
        seed: int,
        definitions: OutcomeDefinitions,
    ) -> pd.DataFrame:
        tables: ClinicTables = loaded.tables
        split = split_clients(tables.clients, strategy=strategy, seed=seed)
        return training_label_counts(tables, split.train, definitions)

    def fit_and_evaluate(self, loaded: LoadedData, **options: Any) -> FittedModel:
        tables: ClinicTables = loaded.tables
        return fit_and_evaluate(tables, **options)

    def run_params(self, loaded: LoadedData) -> dict[str, object]:
        return {}
