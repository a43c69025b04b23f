"""`fit_and_evaluate` on a Dask cluster: the same steps, with the training rows on the workers.

1. split clients on the driver (the clients table only), exactly as a single machine would;
2. fit the feature builder's therapist history on the training clients, and count dropouts
   per (therapist, fold) in every bucket; each bucket then builds its rows with the same
   `LandmarkFeatureBuilder` and the out-of-fold rates from the summed counts;
3. fit each booster with `DaskLGBMClassifier` on the training rows (minus the
   early-stopping clients), then cut it at the round a single machine's early stopping
   would pick, measured on the early-stopping clients;
4. calibrate, band and evaluate on the driver, on the calibration and test rows, which are
   gathered (they are 40 % of clients and never trained on).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from dask.delayed import Delayed
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier
from tqdm.auto import tqdm

from data_schemas.tables import ClinicTables
from features.labels import landmark_labels
from features.landmarks import LandmarkFeatureBuilder
from features.registry import CATEGORICAL_FEATURES, FEATURE_NAMES
from features.therapist_history import client_folds, fold_dropout_counts, out_of_fold_rates
from models.bands import BandThresholds, PopulationQuantiles
from models.calibration import MarginCalibrator
from models.outcome import OutcomeModel
from models.predictor import OUTCOMES, AllianceRiskModel, ModelMetadata
from training.boosting import BoosterParameters
from training.distributed.partitions import BucketedTables
from training.fitting import (
    FittedModel,
    OutcomeEvaluation,
    evaluate_outcome,
    headline_metrics,
    subset,
)
from training.splits import SplitStrategy, split_clients

#: Training rows gathered to fit the comparison baselines (a seeded sample when more).
BASELINE_ROWS = 200_000


def _clients_and_ends(tables: ClinicTables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bucket's clients and each client's last session day: all the driver gathers."""
    ends = tables.sessions.groupby("client_id", as_index=False)["session_date"].max()
    return tables.clients, ends


def _fold_counts(tables: ClinicTables, roles: pd.DataFrame) -> pd.DataFrame:
    clients = tables.clients[
        roles["part"].reindex(tables.clients["client_id"]).eq("train").to_numpy()
    ]
    return fold_dropout_counts(
        clients["therapist_id"].to_numpy(dtype=object),
        clients["dropout"].to_numpy(dtype=bool),
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
) -> pd.DataFrame:
    """One bucket's landmark rows, flat: client_id, part, the features and both labels."""
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
    labels = landmark_labels(tables, frame.index).add_prefix("label_")
    flat = pd.concat([frame, labels], axis=1).reset_index(level="landmark", drop=True)
    flat = flat.reset_index()
    flat.insert(1, "part", roles["part"].reindex(flat["client_id"]).to_numpy())
    return flat


def _rows_meta() -> pd.DataFrame:
    columns = {"client_id": pd.Series(dtype=object), "part": pd.Series(dtype=object)}
    columns |= {name: pd.Series(dtype=np.float64) for name in FEATURE_NAMES}
    columns |= {f"label_{outcome}": pd.Series(dtype=np.float64) for outcome in OUTCOMES}
    return pd.DataFrame(columns)


def _training_rows(rows: pd.DataFrame, outcome: str, stop: frozenset[str]) -> pd.DataFrame:
    keep = (rows["part"] == "train") & rows[f"label_{outcome}"].notna()
    return rows[keep & ~rows["client_id"].isin(stop)]


def _labelled_rows_of(rows: pd.DataFrame, outcome: str, clients: frozenset[str]) -> pd.DataFrame:
    return rows[rows["client_id"].isin(clients) & rows[f"label_{outcome}"].notna()]


def _best_iteration(
    booster: lgb.Booster, features: np.ndarray, labels: np.ndarray, patience: int
) -> int:
    """The round `lgb.early_stopping` would keep: lowest log-loss, stopping after `patience`."""
    margin = np.zeros(len(labels))
    best, best_loss = 1, np.inf
    for rounds in range(1, booster.num_trees() + 1):
        margin += booster.predict(
            features, raw_score=True, start_iteration=rounds - 1, num_iteration=1
        )
        loss = float(np.mean(np.logaddexp(0.0, margin) - labels * margin))
        if loss < best_loss:
            best, best_loss = rounds, loss
        elif rounds - best >= patience:
            break
    return best


def _fit_distributed_booster(
    client: Client,
    rows: dd.DataFrame,
    outcome: str,
    stop: frozenset[str],
    stop_rows: pd.DataFrame,
    parameters: BoosterParameters,
    seed: int,
) -> lgb.Booster:
    threads = min(client.nthreads().values())
    params = parameters.lightgbm_params(seed) | {"num_threads": threads}
    train = rows.map_partitions(_training_rows, outcome, stop, meta=rows._meta)
    classifier = DaskLGBMClassifier(client=client, n_estimators=parameters.max_rounds, **params)
    classifier.fit(
        train[list(FEATURE_NAMES)],
        train[f"label_{outcome}"],
        categorical_feature=list(CATEGORICAL_FEATURES),
    )
    booster = classifier.to_local().booster_
    best = _best_iteration(
        booster,
        stop_rows[list(FEATURE_NAMES)].to_numpy(np.float64),
        stop_rows[f"label_{outcome}"].to_numpy(np.float64),
        parameters.early_stopping_rounds,
    )
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _stop_clients(labelled_clients: np.ndarray, seed: int, share: float = 0.15) -> frozenset[str]:
    """The early-stopping clients, drawn as `fit_booster` draws them."""
    unique = np.unique(labelled_clients)
    rng = np.random.default_rng(seed)
    return frozenset(rng.choice(unique, size=max(1, int(len(unique) * share)), replace=False))


def _baseline_sample(
    client: Client, rows: dd.DataFrame, outcome: str, n_rows: int, seed: int
) -> pd.DataFrame:
    train = rows.map_partitions(_training_rows, outcome, frozenset(), meta=rows._meta)
    if n_rows > BASELINE_ROWS:
        train = train.sample(frac=BASELINE_ROWS / n_rows, random_state=seed)
    return client.compute(train).result()


def fit_and_evaluate_on_cluster(
    client: Client,
    tables: BucketedTables,
    *,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    parameters: dict[str, BoosterParameters] | None = None,
    oracle: pd.DataFrame | None = None,
    n_boot: int = 200,
    synthetic: bool = False,
    training_summary: dict[str, Any] | None = None,
) -> FittedModel:
    """Build the predictor from bucketed tables on the cluster and evaluate it on test clients."""
    parameters = parameters or {}
    gathered = client.gather(
        client.compute([dask.delayed(_clients_and_ends)(b) for b in tables.buckets])
    )
    clients = pd.concat([c for c, _ in gathered]).sort_index()
    ends = pd.concat([e for _, e in gathered], ignore_index=True)
    split = split_clients(clients, strategy=strategy, seed=seed)
    temporal = strategy is SplitStrategy.TEMPORAL
    builder = LandmarkFeatureBuilder(
        random_state=seed, therapist_history="temporal" if temporal else "cross_fit"
    )
    train_ids = np.sort(np.fromiter(split.train, dtype=object, count=len(split.train)))
    builder.fit(
        ClinicTables(
            clients[clients["client_id"].isin(split.train)],
            tables.therapists,
            ends[ends["client_id"].isin(split.train)],
        )
    )
    roles = pd.DataFrame(
        {"part": split.part_of(clients["client_id"])}, index=clients["client_id"].to_numpy()
    )
    roles["fold"] = -1
    roles.loc[train_ids, "fold"] = client_folds(train_ids, builder.n_folds, seed)
    roles_key = dask.delayed(roles, pure=True)
    builder_key = dask.delayed(builder, pure=True)
    counts: Delayed | None = None
    if not temporal:
        counts = dask.delayed(_sum_counts)(
            [dask.delayed(_fold_counts)(b, roles_key) for b in tables.buckets]
        )
    parts = [dask.delayed(_bucket_rows)(b, roles_key, builder_key, counts) for b in tables.buckets]
    rows = client.persist(dd.from_delayed(parts, meta=_rows_meta(), verify_meta=False))
    held_out = client.compute(rows[rows["part"] != "train"]).result()
    held_out.index = pd.MultiIndex.from_arrays(
        [held_out["client_id"].to_numpy(dtype=object), held_out["landmark"].to_numpy(np.int64)],
        names=["client_id", "landmark"],
    )
    training = client.compute(
        rows[rows["part"] == "train"][["client_id", *(f"label_{o}" for o in OUTCOMES)]]
    ).result()

    outcome_models: dict[str, OutcomeModel] = {}
    evaluations: dict[str, OutcomeEvaluation] = {}
    for outcome in tqdm(OUTCOMES, desc="training outcomes (dask)", unit="outcome"):
        booster_parameters = parameters.get(outcome, BoosterParameters())
        labelled = training[training[f"label_{outcome}"].notna()]
        stop = _stop_clients(labelled["client_id"].to_numpy(dtype=object), seed)
        stop_rows = client.compute(
            rows.map_partitions(_labelled_rows_of, outcome, stop, meta=rows._meta)
        ).result()
        booster = _fit_distributed_booster(
            client, rows, outcome, stop, stop_rows, booster_parameters, seed
        )
        baseline_rows = _baseline_sample(client, rows, outcome, len(labelled), seed)
        parts_of = {
            "train": baseline_rows,
            "calibration": held_out[held_out["part"] == "calibration"],
            "test": held_out[held_out["part"] == "test"],
        }
        keep = {
            name: frame[f"label_{outcome}"].notna().to_numpy() for name, frame in parts_of.items()
        }
        matrix = {
            name: frame[list(FEATURE_NAMES)].to_numpy(np.float64)[keep[name]]
            for name, frame in parts_of.items()
        }
        y = {
            name: frame[f"label_{outcome}"].to_numpy(np.float64)[keep[name]]
            for name, frame in parts_of.items()
        }
        ids = {
            name: frame["client_id"].to_numpy(dtype=object)[keep[name]]
            for name, frame in parts_of.items()
        }
        landmark = {
            name: frame["landmark"].to_numpy().astype(np.int64)[keep[name]]
            for name, frame in parts_of.items()
        }
        calibration_margin = booster.predict(matrix["calibration"], raw_score=True)
        calibrator = MarginCalibrator.fit(calibration_margin, y["calibration"])
        reference = calibrator.probability(calibration_margin)
        model = OutcomeModel(
            name=outcome,
            booster=booster,
            calibrator=calibrator,
            thresholds=BandThresholds.from_population(reference),
            population=PopulationQuantiles.from_population(reference, landmark["calibration"]),
        )
        outcome_models[outcome] = model
        test_features = parts_of["test"][list(FEATURE_NAMES)].iloc[np.flatnonzero(keep["test"])]
        evaluations[outcome] = evaluate_outcome(
            model,
            matrix=matrix,
            y=y,
            clients=ids,
            landmark=landmark,
            test_features=test_features,
            tables=ClinicTables(clients, tables.therapists, ends),
            oracle=oracle,
            n_train_rows=len(labelled),
            n_boot=n_boot,
            seed=seed,
        )

    instruments = client.compute(
        dask.delayed(_sum_instruments)(
            [dask.delayed(_rated_instruments)(b, roles_key) for b in tables.buckets]
        )
    ).result()
    metadata = ModelMetadata(
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        synthetic_data=synthetic,
        training_summary={
            **(training_summary or {}),
            "split_strategy": strategy.value,
            "n_train_clients": len(split.train),
            "n_calibration_clients": len(split.calibration),
            "n_test_clients": len(split.test),
            "dask_buckets": tables.n_buckets,
        },
        headline_metrics=headline_metrics(evaluations),
        instrument_shares={
            str(code): float(n / instruments.sum()) for code, n in instruments.items()
        },
    )
    model = AllianceRiskModel(features=builder, outcomes=outcome_models, metadata=metadata)
    return FittedModel(model=model, split=split, evaluations=evaluations)
