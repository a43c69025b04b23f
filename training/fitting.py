"""Fit the packaged predictor on validated clinic tables and evaluate it on held-out clients.

The order of operations is what keeps the numbers honest:
1. split clients (never rows) into train, calibration and test;
2. fit the feature builder on training clients only (the therapist dropout rate is
   cross-fitted, so no training row sees its own outcome);
3. fit each booster on training rows, with early stopping on training clients;
4. fit each calibrator on calibration rows the booster never saw;
5. score the test rows once, with the baselines fitted on the same training rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data_schemas.tables import ClinicTables
from features.labels import landmark_labels
from features.landmarks import LandmarkFeatureBuilder
from features.registry import FEATURE_NAMES
from models.bands import BandThresholds, PopulationQuantiles
from models.calibration import MarginCalibrator
from models.outcome import OutcomeModel
from models.predictor import OUTCOMES, AllianceRiskModel, ModelMetadata
from training.baselines import fit_baselines
from training.boosting import BoosterParameters, fit_booster
from training.evaluation import (
    compare_auroc,
    evaluate_predictions,
    subgroup_attributes,
    subgroup_table,
)
from training.metrics import auroc
from training.splits import ClientSplit, SplitStrategy, split_clients


@dataclass
class OutcomeEvaluation:
    """Held-out results for one outcome, plus the arrays the plots are drawn from."""

    metrics: dict[str, Any]
    baselines: dict[str, dict[str, float]]
    oracle: dict[str, float] | None
    subgroups: pd.DataFrame
    test_labels: np.ndarray
    test_scores: dict[str, np.ndarray]
    test_contributions: np.ndarray
    test_features: pd.DataFrame
    n_trees: int
    n_train_rows: int
    n_calibration_rows: int


@dataclass
class FittedModel:
    """The packaged predictor and everything measured while building it."""

    model: AllianceRiskModel
    split: ClientSplit
    evaluations: dict[str, OutcomeEvaluation] = field(default_factory=dict)


def subset(tables: ClinicTables, client_ids: frozenset[str]) -> ClinicTables:
    """The tables restricted to some clients (therapists kept whole)."""
    keep_clients = tables.clients["client_id"].isin(client_ids)
    keep_sessions = tables.sessions["client_id"].isin(client_ids)
    return ClinicTables(
        tables.clients[keep_clients], tables.therapists, tables.sessions[keep_sessions]
    )


def instrument_shares(sessions: pd.DataFrame) -> dict[str, float]:
    rated = sessions.loc[sessions["alliance_score"].notna(), "alliance_instrument"].astype(str)
    return {code: float(share) for code, share in rated.value_counts(normalize=True).items()}


def fit_and_evaluate(
    tables: ClinicTables,
    *,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    parameters: dict[str, BoosterParameters] | None = None,
    oracle: pd.DataFrame | None = None,
    n_boot: int = 200,
    synthetic: bool = False,
    training_summary: dict[str, Any] | None = None,
) -> FittedModel:
    """Build the predictor from validated tables with outcomes and evaluate it on test clients."""
    parameters = parameters or {}
    split = split_clients(tables.clients, strategy=strategy, seed=seed)
    builder = LandmarkFeatureBuilder(
        random_state=seed,
        therapist_history="temporal" if strategy is SplitStrategy.TEMPORAL else "cross_fit",
    )
    train_features = builder.fit_transform(subset(tables, split.train))
    held_out = builder.transform(subset(tables, split.calibration | split.test))
    parts = {
        "train": train_features,
        "calibration": held_out[
            held_out.index.get_level_values("client_id").isin(split.calibration)
        ],
        "test": held_out[held_out.index.get_level_values("client_id").isin(split.test)],
    }
    labels = {name: landmark_labels(tables, frame.index) for name, frame in parts.items()}

    outcome_models: dict[str, OutcomeModel] = {}
    evaluations: dict[str, OutcomeEvaluation] = {}
    for outcome in tqdm(OUTCOMES, desc="training outcomes", unit="outcome"):
        rows = {name: labels[name][outcome].notna().to_numpy() for name in parts}
        matrix = {
            name: parts[name][list(FEATURE_NAMES)].to_numpy(np.float64)[rows[name]]
            for name in parts
        }
        y = {name: labels[name][outcome].to_numpy()[rows[name]].astype(float) for name in parts}
        clients = {
            name: parts[name].index.get_level_values("client_id").to_numpy()[rows[name]]
            for name in parts
        }
        landmark = {
            name: parts[name].index.get_level_values("landmark").to_numpy()[rows[name]]
            for name in parts
        }
        booster = fit_booster(
            matrix["train"],
            y["train"],
            clients["train"],
            parameters=parameters.get(outcome, BoosterParameters()),
            seed=seed,
        )
        calibrator = MarginCalibrator.fit(
            booster.predict(matrix["calibration"], raw_score=True), y["calibration"]
        )
        reference = calibrator.probability(booster.predict(matrix["calibration"], raw_score=True))
        model = OutcomeModel(
            name=outcome,
            booster=booster,
            calibrator=calibrator,
            thresholds=BandThresholds.from_population(reference),
            population=PopulationQuantiles.from_population(reference, landmark["calibration"]),
        )
        outcome_models[outcome] = model
        evaluations[outcome] = evaluate_outcome(
            model,
            matrix=matrix,
            y=y,
            clients=clients,
            landmark=landmark,
            test_features=parts["test"].iloc[np.flatnonzero(rows["test"])],
            tables=tables,
            oracle=oracle,
            n_train_rows=len(y["train"]),
            n_boot=n_boot,
            seed=seed,
        )

    metadata = ModelMetadata(
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        synthetic_data=synthetic,
        training_summary={
            **(training_summary or {}),
            "split_strategy": strategy.value,
            "n_train_clients": len(split.train),
            "n_calibration_clients": len(split.calibration),
            "n_test_clients": len(split.test),
        },
        headline_metrics=headline_metrics(evaluations),
        instrument_shares=instrument_shares(subset(tables, split.train).sessions),
    )
    model = AllianceRiskModel(features=builder, outcomes=outcome_models, metadata=metadata)
    return FittedModel(model=model, split=split, evaluations=evaluations)


def evaluate_outcome(
    model: OutcomeModel,
    *,
    matrix: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    clients: dict[str, np.ndarray],
    landmark: dict[str, np.ndarray],
    test_features: pd.DataFrame,
    tables: ClinicTables,
    oracle: pd.DataFrame | None,
    n_train_rows: int,
    n_boot: int,
    seed: int,
) -> OutcomeEvaluation:
    """Score one outcome's test rows against its baselines and the oracle.

    `matrix`, `y`, `clients` and `landmark` map each split name (train, calibration, test)
    to that split's rows in the outcome's task; the baselines are fitted on the train rows.
    """
    outcome = model.name
    p = model.score(matrix["test"], landmark["test"]).probability
    explanation = model.explain(matrix["test"])
    baselines = fit_baselines(matrix["train"], y["train"])
    scores = {"LightGBM (calibrated)": p}
    baseline_results = {}
    for name, baseline in baselines.items():
        baseline_p = baseline.predict_proba(matrix["test"])[:, 1]
        scores[name] = baseline_p
        baseline_results[name] = compare_auroc(
            y["test"], p, baseline_p, clients["test"], n_boot=n_boot, seed=seed
        )
    oracle_result = None
    if oracle is not None:
        oracle_p = (
            oracle.set_index(["client_id", "landmark"])[f"p_{outcome}"]
            .reindex(test_features.index)
            .to_numpy(dtype=float)
        )
        if np.isfinite(oracle_p).all():
            oracle_auroc = auroc(y["test"], oracle_p)
            oracle_result = {
                "auroc": oracle_auroc,
                "model_to_oracle_ratio": auroc(y["test"], p) / oracle_auroc,
            }
            scores["oracle (true probability)"] = oracle_p
    return OutcomeEvaluation(
        metrics=evaluate_predictions(
            y["test"], p, clients["test"], landmark["test"], n_boot=n_boot, seed=seed
        ),
        baselines=baseline_results,
        oracle=oracle_result,
        subgroups=subgroup_table(
            y["test"], p, subgroup_attributes(tables.clients, clients["test"])
        ),
        test_labels=y["test"],
        test_scores=scores,
        test_contributions=explanation.contributions,
        test_features=test_features,
        n_trees=model.booster.num_trees(),
        n_train_rows=n_train_rows,
        n_calibration_rows=len(y["calibration"]),
    )


def headline_metrics(evaluations: dict[str, OutcomeEvaluation]) -> dict[str, Any]:
    """The few numbers shown wherever the model speaks: AUROC, calibration, ECE, with intervals."""
    return {
        outcome: {
            name: evaluation.metrics["overall"][name]
            for name in (
                "auroc",
                "auprc",
                "brier",
                "calibration_slope",
                "calibration_intercept",
                "ece",
            )
        }
        | {
            "observed_rate": evaluation.metrics["observed_rate"],
            "n_test_rows": evaluation.metrics["n_rows"],
        }
        for outcome, evaluation in evaluations.items()
    }
