"""`fit_and_evaluate` on a Dask cluster: the same steps, with the training rows on the workers.

1. split clients on the driver (the clients table only) with the same `TrainingPlan` a
   single machine uses;
2. fit the feature builder's therapist history on the training clients, and count dropouts
   per (therapist, fold) in every bucket; each bucket then builds its rows with the same
   `LandmarkFeatureBuilder` and the out-of-fold rates from the summed counts;
3. fit each booster data-parallel (`training.distributed.boosting`) on the training rows
   minus the early-stopping clients, one partition per worker, each worker holding the same
   copy of the early-stopping rows, so every worker stops at the same round;
4. calibrate, band and evaluate on the driver from the margins, labels and scores of the
   calibration and test rows, computed where the rows live
   (`training.distributed.held_out`): the driver never holds the held-out feature rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Future
from tqdm.auto import tqdm

from data_schemas.buckets import BucketedTables, pinned, worker_addresses
from data_schemas.tables import ClinicTables
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from features.landmarks import LandmarkFeatureBuilder
from features.therapist_history import (
    client_folds,
    dropout_flags,
    fold_dropout_counts,
    out_of_fold_rates,
)
from models.outcome import OutcomeModel
from training.boosting import BoosterParameters, early_stopping_clients
from training.characteristics import baseline_characteristics
from training.distributed.boosting import LightgbmRows, lightgbm_rows, train_data_parallel
from training.distributed.held_out import (
    calibration_margins,
    fitted_baselines,
    reference_on_cluster,
    scored_test,
)
from training.evaluation import BootstrapCluster
from training.fitting import (
    FittedModel,
    TrainingPlan,
    assemble,
    oracle_applies,
    subset,
)
from training.flow import add_counts, flow_counts, participant_flow
from training.held_out import (
    OracleFile,
    OutcomeEvaluation,
    calibrated_outcome,
    evaluate_scored,
    oracle_of_test_clients,
)
from training.splits import SplitStrategy
from training.subgroups import MIN_SUBGROUP_EVENTS


def clients_of(tables: ClinicTables) -> pd.DataFrame:
    """The bucket's clients table: all the driver gathers of the tables (and the sample-size
    check, which splits them as training will)."""
    return tables.clients


def _first_ratings(tables: ClinicTables, train: frozenset[str]) -> pd.DataFrame:
    """Each training client's first rated session: what the alliance norms are learned from."""
    sessions = tables.sessions
    rated = sessions[sessions["alliance_score"].notna() & sessions["client_id"].isin(train)]
    return rated.sort_values(["client_id", "session_number"], kind="stable").drop_duplicates(
        "client_id"
    )


def _fold_counts(tables: ClinicTables, roles: pd.DataFrame) -> pd.DataFrame:
    clients = tables.clients[
        roles["part"].reindex(tables.clients["client_id"]).eq("train").to_numpy()
    ]
    return fold_dropout_counts(
        clients["therapist_id"].to_numpy(dtype=object),
        dropout_flags(clients),
        roles["fold"].reindex(clients["client_id"]).to_numpy(dtype=np.int64),
    )


def _sum_counts(counts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(counts).groupby(level=["therapist_id", "fold"]).sum()


def _rated_instruments(tables: ClinicTables, roles: pd.DataFrame) -> pd.Series:
    sessions = tables.sessions
    train = roles["part"].reindex(sessions["client_id"]).eq("train").to_numpy()
    rated = sessions.loc[train & sessions["alliance_score"].notna().to_numpy()]
    return rated["alliance_instrument"].astype(str).value_counts()


def _sum_instruments(counts: list[pd.Series]) -> pd.Series:
    return pd.concat(counts).groupby(level=0).sum()


def _bucket_rows(
    tables: ClinicTables,
    roles: pd.DataFrame,
    builder: LandmarkFeatureBuilder,
    counts: pd.DataFrame | None,
    definitions: OutcomeDefinitions,
) -> pd.DataFrame:
    """One bucket's landmark rows, flat: client_id, part, the features, both labels and
    why each row is or is not in each task (`label_<outcome>_status`)."""
    part = roles["part"].reindex(tables.clients["client_id"]).to_numpy()
    ids = tables.clients["client_id"].to_numpy(dtype=object)
    train = subset(tables, frozenset(ids[part == "train"]))
    if counts is None:
        train_rows = builder.transform(train)
    else:
        train_ids = train.clients["client_id"].to_numpy(dtype=object)
        rates = out_of_fold_rates(
            train.clients["therapist_id"].to_numpy(dtype=object),
            roles["fold"].reindex(train_ids).to_numpy(dtype=np.int64),
            counts,
            prior_strength=float(builder.prior_strength),
        )
        train_rows = builder.transform_with_therapist_rates(
            train, pd.Series(rates, index=train_ids)
        )
    held_out = builder.transform(subset(tables, frozenset(ids[part != "train"])))
    frame = pd.concat([train_rows, held_out])
    del train_rows, held_out  # the bucket's rows are held once from here, not twice
    labels = landmark_labels(tables, frame.index, definitions).add_prefix("label_")
    flat = pd.concat([frame, labels], axis=1).reset_index(level="landmark", drop=True)
    flat = flat.reset_index()
    flat.insert(1, "part", roles["part"].reindex(flat["client_id"]).to_numpy())
    return flat


def _rows_meta(names: list[str]) -> pd.DataFrame:
    columns = {"client_id": pd.Series(dtype=object), "part": pd.Series(dtype=object)}
    columns |= {name: pd.Series(dtype=np.float64) for name in names}
    columns |= {f"label_{outcome}": pd.Series(dtype=np.float64) for outcome in OUTCOMES}
    columns |= {f"label_{outcome}_status": pd.Series(dtype=object) for outcome in OUTCOMES}
    return pd.DataFrame(columns)


def _bucket_flow(rows: pd.DataFrame) -> pd.DataFrame:
    """The participant-flow counts of one bucket's rows (they add up over buckets)."""
    statuses = {f"label_{outcome}_status": f"{outcome}_status" for outcome in OUTCOMES}
    return flow_counts(rows[["client_id", "part", "landmark", *statuses]].rename(columns=statuses))


def _training_mask(rows: pd.DataFrame, outcome: str, stop: frozenset[str]) -> np.ndarray:
    keep = (rows["part"] == "train") & rows[f"label_{outcome}"].notna()
    return (keep & ~rows["client_id"].isin(stop)).to_numpy()


def _baseline_rows(rows: pd.DataFrame, outcome: str, names: list[str]) -> pd.DataFrame:
    """A bucket's labelled training rows with only what the baselines read, their
    predictors and label: selecting the rows with every column first copied them whole."""
    return rows.loc[_training_mask(rows, outcome, frozenset()), [*names, f"label_{outcome}"]]


def _stopping_part(
    rows: pd.DataFrame, outcome: str, clients: frozenset[str], names: list[str]
) -> LightgbmRows:
    """A bucket's labelled rows of the early-stopping clients, as LightGBM takes them: only
    their predictors and labels travel to the workers that train."""
    keep = (rows["client_id"].isin(clients) & rows[f"label_{outcome}"].notna()).to_numpy()
    return lightgbm_rows([rows], [keep], names, f"label_{outcome}")


def _labelled_training(rows: pd.DataFrame, outcome: str) -> tuple[np.ndarray, int]:
    """A bucket's training clients with a label for the outcome, and their labelled rows."""
    label = rows[f"label_{outcome}"].notna().to_numpy()
    kept = rows["client_id"].to_numpy(dtype=object)[label & (rows["part"] == "train").to_numpy()]
    return np.unique(kept), len(kept)


def _worker_rows(
    parts: list[pd.DataFrame], outcome: str, stop: frozenset[str], names: list[str]
) -> LightgbmRows:
    """One worker's training rows for an outcome: all its buckets in one matrix."""
    masks = [_training_mask(part, outcome, stop) for part in parts]
    return lightgbm_rows(parts, masks, names, f"label_{outcome}")


def _stopping_rows(parts: list[LightgbmRows]) -> LightgbmRows:
    """The early-stopping rows of every bucket in one matrix, bucket after bucket."""
    return np.concatenate([matrix for matrix, _ in parts]), np.concatenate([y for _, y in parts])


def _fit_distributed_booster(
    client: Client,
    row_parts: list[Future],
    outcome: str,
    stop: Future,
    parameters: BoosterParameters,
    seed: int,
    names: list[str],
) -> lgb.Booster:
    """Data-parallel LightGBM on the training rows minus the early-stopping clients, one
    partition per worker, each worker holding the same copy of the early-stopping rows."""
    workers = worker_addresses(client)
    training = {
        worker: client.submit(
            _worker_rows,
            row_parts[i :: len(workers)],
            outcome,
            stop,
            names,
            workers=[worker],
            allow_other_workers=True,
        )
        for i, worker in enumerate(workers)
        if row_parts[i :: len(workers)]
    }
    # Each worker gathers the early-stopping rows from the buckets itself (not pure: one
    # copy per worker, never through the driver).
    stop_parts = client.map(_stopping_part, row_parts, outcome=outcome, clients=stop, names=names)
    stopping = {
        worker: client.submit(_stopping_rows, stop_parts, workers=[worker], pure=False)
        for worker in training
    }
    return train_data_parallel(
        client,
        training,
        stopping,
        outcome=outcome,
        parameters=parameters,
        seed=seed,
        names=names,
    )


def fit_and_evaluate_on_cluster(
    client: Client,
    tables: BucketedTables,
    *,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    parameters: dict[str, BoosterParameters] | None = None,
    oracle: OracleFile | None = None,
    n_boot: int = 200,
    synthetic: bool = False,
    training_summary: dict[str, Any] | None = None,
    definitions: OutcomeDefinitions | None = None,
    exclude_features: tuple[str, ...] = (),
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT,
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS,
) -> FittedModel:
    """Build the predictor from bucketed tables on the cluster and evaluate it on test clients.

    `definitions` default to the latest date in the data and the whole episode; the other
    options are `training.fitting.fit_and_evaluate`'s. The tables are used up: once the
    tasks that read them are given out, they are released (`BucketedTables.release`).
    """
    parameters = parameters or {}
    definitions = definitions or OutcomeDefinitions(as_of=latest_date_on_cluster(client, tables))
    clients = pd.concat(client.gather(client.map(clients_of, tables.buckets))).sort_index()
    plan = TrainingPlan.of(clients, strategy=strategy, seed=seed, exclude=exclude_features)
    split, builder = plan.split, plan.builder
    test_oracle = oracle_of_test_clients(oracle, split.test)
    train_ids = np.sort(np.fromiter(split.train, dtype=object, count=len(split.train)))
    [train_on_workers] = client.scatter([split.train], broadcast=True)
    first_ratings = pd.concat(
        client.gather(client.map(_first_ratings, tables.buckets, train=train_on_workers))
    )
    builder.fit(
        ClinicTables(
            clients[clients["client_id"].isin(split.train)], tables.therapists, first_ratings
        )
    )
    roles = pd.DataFrame(
        {"part": split.part_of(clients["client_id"])}, index=clients["client_id"].to_numpy()
    )
    roles["fold"] = -1
    roles.loc[train_ids, "fold"] = client_folds(train_ids, builder.n_folds, seed)
    [roles_on_workers, builder_on_workers] = client.scatter([roles, builder], broadcast=True)
    counts = None
    if strategy is not SplitStrategy.TEMPORAL:
        counts = client.submit(
            _sum_counts, client.map(_fold_counts, tables.buckets, roles=roles_on_workers)
        )
    row_parts = pinned(
        client,
        _bucket_rows,
        tables.buckets,
        roles_on_workers,
        builder_on_workers,
        counts,
        definitions,
    )
    instruments = client.submit(
        _sum_instruments, client.map(_rated_instruments, tables.buckets, roles=roles_on_workers)
    )
    # Nothing else reads the tables: each bucket's go once its rows and counts are built.
    tables.release()
    flow = participant_flow(
        client.submit(add_counts, client.map(_bucket_flow, row_parts)).result(), split.sizes()
    )
    names = list(builder.get_feature_names_out())
    rows = dd.from_delayed(row_parts, meta=_rows_meta(names), verify_meta=False)

    outcome_models: dict[str, OutcomeModel] = {}
    evaluations: dict[str, OutcomeEvaluation] = {}
    for outcome in tqdm(OUTCOMES, desc="training outcomes (dask)", unit="outcome"):
        labelled = client.gather(client.map(_labelled_training, row_parts, outcome=outcome))
        n_train_rows = sum(n for _, n in labelled)
        stop = early_stopping_clients(np.concatenate([ids for ids, _ in labelled]), seed)
        # Sent once to every worker: 15 % of training clients, too many to copy into tasks.
        [stop_on_workers] = client.scatter([stop], broadcast=True)
        booster = _fit_distributed_booster(
            client,
            row_parts,
            outcome,
            stop_on_workers,
            parameters.get(outcome, BoosterParameters()),
            seed,
            names,
        )
        calibration = calibration_margins(client, row_parts, booster, outcome, names)
        model = calibrated_outcome(
            outcome,
            booster,
            calibration["margin"].to_numpy(),
            calibration["y"].to_numpy(),
            calibration["landmark"].to_numpy(),
        )
        train = rows.map_partitions(
            _baseline_rows, outcome, names, meta=rows._meta[[*names, f"label_{outcome}"]]
        )
        baselines = fitted_baselines(client, train, outcome, names, n_train_rows, seed)
        outcome_models[outcome] = model
        evaluations[outcome] = evaluate_scored(
            model,
            scored_test(client, row_parts, model, baselines, names, seed),
            clients=clients,
            oracle=test_oracle if oracle_applies(outcome, definitions) else None,
            n_train_rows=n_train_rows,
            n_calibration_rows=len(calibration),
            n_boot=n_boot,
            seed=seed,
            bootstrap_cluster=bootstrap_cluster,
            subgroup_min_events=subgroup_min_events,
        )

    instrument_counts = instruments.result()
    return assemble(
        builder,
        outcome_models,
        evaluations,
        split=split,
        strategy=strategy,
        synthetic=synthetic,
        training_summary={**(training_summary or {}), "dask_buckets": tables.n_buckets},
        instrument_shares={
            str(code): float(n / instrument_counts.sum()) for code, n in instrument_counts.items()
        },
        definitions=definitions,
        flow=flow,
        characteristics=baseline_characteristics(clients, split),
        reference_of=reference_on_cluster(client, row_parts, names),
        bootstrap_cluster=bootstrap_cluster,
        subgroup_min_events=subgroup_min_events,
    )


def _latest_date(tables: ClinicTables) -> dt.date | None:
    return tables.latest_date()


def latest_date_on_cluster(client: Client, tables: BucketedTables) -> dt.date | None:
    """The latest date anywhere in the bucketed tables (the default export date)."""
    dates = [day for day in client.gather(client.map(_latest_date, tables.buckets)) if day]
    return max(dates) if dates else None
