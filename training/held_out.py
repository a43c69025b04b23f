"""Calibrate and evaluate one outcome from scores, not from feature rows.

A calibrator needs the calibration rows' margins, labels and landmarks; the evaluation
needs the test rows' labels, clients, landmarks, each model's probability and the one
feature a subgroup is defined by (`alliance_instrument_last`); plots and the model card
need a bounded sample of feature rows with their explanations and the missing shares.
Asking for only that lets the Dask back-end score the held-out rows where they live and
send the driver these columns (`training.distributed.held_out`), while one machine scores
its rows in place (`ScoredTest.of`): both then go through the same `evaluate_scored`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.pipeline import Pipeline

from models.bands import LandmarkBands, PopulationQuantiles
from models.calibration import MarginCalibrator
from models.outcome import OutcomeModel
from training.characteristics import missing_shares
from training.decision_curves import band_cut_points, decision_curves
from training.decision_curves import summary as decision_summary
from training.evaluation import (
    BootstrapCluster,
    bootstrap_clusters,
    compare_with,
    evaluate_predictions,
)
from training.metrics import ALL_METRICS, auroc
from training.resampling import ClusterDraws
from training.subgroups import MIN_SUBGROUP_EVENTS, subgroup_attributes, subgroup_table

#: The name of the model's scores among the compared ones (plots, decision curves).
MODEL_SCORES = "LightGBM (calibrated)"
ORACLE_SCORES = "oracle (true probability)"
#: Test rows drawn in a SHAP beeswarm, and the most a cluster sends the driver for it (kept
#: here, not in `training.plots`, so workers need not import matplotlib and shap).
BEESWARM_ROWS = 20_000
#: The feature whose value (the latest rating's questionnaire) defines a subgroup.
SUBGROUP_FEATURE = "alliance_instrument_last"


@dataclass
class OutcomeEvaluation:
    """Held-out results for one outcome, plus the arrays the plots are drawn from.

    `test_features` and `test_contributions` are a seeded sample of at most
    `BEESWARM_ROWS` labelled test rows (every row when there are no more).
    `test_missing` is the share of labelled test rows without a value, per predictor.
    """

    metrics: dict[str, Any]
    baselines: dict[str, dict[str, float]]
    oracle: dict[str, float] | None
    subgroups: pd.DataFrame
    decision_curve: pd.DataFrame  # training.decision_curves.decision_curves
    decision_summary: dict[str, Any]  # training.decision_curves.summary
    test_labels: np.ndarray
    test_scores: dict[str, np.ndarray]
    test_contributions: np.ndarray
    test_features: pd.DataFrame
    test_missing: dict[str, float]
    n_trees: int
    n_train_rows: int
    n_calibration_rows: int


@dataclass(frozen=True)
class ScoredTest:
    """One outcome's labelled test rows as the evaluation takes them.

    `scores` holds the model's probability (`MODEL_SCORES`) and then each baseline's;
    `index` is each row's (client_id, landmark); `sample` and `contributions` are feature
    rows and their explanations for the plots (all rows, or a bounded sample).
    """

    y: np.ndarray
    clients: np.ndarray
    landmark: np.ndarray
    index: pd.MultiIndex
    subgroup_codes: np.ndarray
    scores: dict[str, np.ndarray]
    sample: pd.DataFrame
    contributions: np.ndarray
    missing: dict[str, float]

    @classmethod
    def of(
        cls,
        model: OutcomeModel,
        features: pd.DataFrame,
        y: np.ndarray,
        baselines: dict[str, Pipeline],
        *,
        seed: int,
    ) -> ScoredTest:
        """Score labelled feature rows (indexed by client_id and landmark, the model's
        columns only) with the model and each baseline, where they are; explain a seeded
        sample of at most `BEESWARM_ROWS` of them for the plots."""
        matrix = features.to_numpy(np.float64)
        landmark = features.index.get_level_values("landmark").to_numpy()
        scores = {MODEL_SCORES: model.score(matrix, landmark).probability}
        scores |= {name: b.predict_proba(matrix)[:, 1] for name, b in baselines.items()}
        chosen = plot_rows(len(features), BEESWARM_ROWS, seed)
        return cls(
            y=y,
            clients=features.index.get_level_values("client_id").to_numpy(),
            landmark=landmark,
            index=features.index,
            subgroup_codes=features[SUBGROUP_FEATURE].to_numpy(dtype=float),
            scores=scores,
            sample=features.iloc[chosen],
            contributions=model.explain(matrix[chosen]).contributions,
            missing=missing_shares(features),
        )


@dataclass(frozen=True)
class OracleFile:
    """A synthetic cohort's true risks (`oracle.parquet`), read only for the clients the
    evaluation looks up: at 1,000,000 clients the whole file is 4.6 million rows (350 MiB
    in pandas), of which the test clients' are a fifth."""

    path: Path

    @classmethod
    def in_folder(cls, folder: Path) -> OracleFile | None:
        """The folder's oracle, or None for data that have none (a clinic's export)."""
        path = folder / "oracle.parquet"
        return cls(path) if path.exists() else None

    def rows_of(self, clients: frozenset[str]) -> pd.DataFrame:
        """The rows of `clients`, in file order, read one row group at a time."""
        source = pq.ParquetFile(self.path)
        wanted = pa.array(sorted(clients), type=pa.string())
        kept = [
            group.filter(pc.is_in(group.column("client_id"), value_set=wanted))
            for group in (source.read_row_group(i) for i in range(source.num_row_groups))
        ]
        return pa.concat_tables(kept or [source.schema_arrow.empty_table()]).to_pandas()


def oracle_of_test_clients(oracle: OracleFile | None, test: frozenset[str]) -> pd.DataFrame | None:
    """The synthetic oracle's rows of the test clients: all the evaluation looks up."""
    return None if oracle is None else oracle.rows_of(test)


def plot_rows(n_rows: int, n_sample: int, seed: int) -> np.ndarray:
    """Row numbers, in order, of a seeded sample of at most `n_sample` of `n_rows` rows
    (every row when there are no more): what the plots draw, bounded at any cohort size."""
    if n_sample >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, n_sample, replace=False))


def calibrated_outcome(
    name: str, booster: lgb.Booster, margin: np.ndarray, y: np.ndarray, landmark: np.ndarray
) -> OutcomeModel:
    """The booster with its calibrator and bands, fitted on the margins (raw scores) of
    calibration rows it never saw, their labels and landmarks."""
    calibrator = MarginCalibrator.fit(margin, y)
    reference = calibrator.probability(margin)
    return OutcomeModel(
        name=name,
        booster=booster,
        calibrator=calibrator,
        thresholds=LandmarkBands.from_population(reference, landmark),
        population=PopulationQuantiles.from_population(reference, landmark),
    )


def evaluate_scored(
    model: OutcomeModel,
    test: ScoredTest,
    *,
    clients: pd.DataFrame,
    oracle: pd.DataFrame | None,
    n_train_rows: int,
    n_calibration_rows: int,
    n_boot: int,
    seed: int,
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT,
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS,
) -> OutcomeEvaluation:
    """Metrics, baselines, oracle, subgroups and decision curves of scored test rows.

    One set of bootstrap draws serves every interval, so model-minus-baseline differences
    are paired; `clients` is the clients table (therapists and subgroup attributes).
    """
    p = test.scores[MODEL_SCORES]
    draws = ClusterDraws.draw(
        bootstrap_clusters(bootstrap_cluster, test.clients, clients), n_boot=n_boot, seed=seed
    )
    scores = dict(test.scores)
    baseline_results = {
        name: compare_with(test.y, p, other, draws)
        for name, other in scores.items()
        if name != MODEL_SCORES
    }
    oracle_result = None
    if oracle is not None:
        oracle_p = (
            oracle.set_index(["client_id", "landmark"])[f"p_{model.name}"]
            .reindex(test.index)
            .to_numpy(dtype=float)
        )
        if np.isfinite(oracle_p).all():
            oracle_auroc = auroc(test.y, oracle_p)
            oracle_result = {
                "auroc": oracle_auroc,
                "model_to_oracle_ratio": auroc(test.y, p) / oracle_auroc,
            }
            scores[ORACLE_SCORES] = oracle_p
    curves = decision_curves(test.y, scores, test.landmark)
    instruments = pd.DataFrame({SUBGROUP_FEATURE: test.subgroup_codes}, index=test.index)
    return OutcomeEvaluation(
        metrics=evaluate_predictions(
            test.y, p, test.clients, test.landmark, draws, tuple(ALL_METRICS)
        ),
        baselines=baseline_results,
        oracle=oracle_result,
        subgroups=subgroup_table(
            test.y,
            p,
            test.clients,
            subgroup_attributes(clients, instruments),
            draws,
            min_events=subgroup_min_events,
        ),
        decision_curve=curves,
        decision_summary=decision_summary(
            curves, test.y, scores, test.landmark, band_cut_points(model), MODEL_SCORES
        ),
        test_labels=test.y,
        test_scores=scores,
        test_contributions=test.contributions,
        test_features=test.sample,
        test_missing=test.missing,
        n_trees=model.booster.num_trees(),
        n_train_rows=n_train_rows,
        n_calibration_rows=n_calibration_rows,
    )
