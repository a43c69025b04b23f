"""The promotion gate's comparison: candidate against champion, fairly.

Fair means three things:
1. **Clients neither model was fitted on.** Each run records the clients its boosters,
   calibrators and therapist dropout rates were fitted on (training and calibration
   parts); those of either model are left out. A feature builder learns therapist rates
   only from its own training clients' outcomes, so the remaining clients' outcomes fed
   neither model's rates: the rates they are scored with are recomputed without them.
2. **Paired intervals of the differences.** Both models score the same rows; one set of
   client draws gives each difference a 95% bootstrap interval.
3. **Per landmark, against stated non-inferiority margins.** The candidate passes a check
   when the interval's bound on the unfavourable side stays within the margin (a
   one-sided 97.5% non-inferiority test): AUROC at most `AUROC_MARGIN` lower, ECE at most
   `ECE_MARGIN` higher, the calibration slope at most `SLOPE_MARGIN` further from 1. The
   margins are this product's choice of the smallest loss worth refusing a version for,
   not published values; the ECE margin is the product's calibration bar (ECE at most
   0.02), since a per-landmark ECE on a few thousand clients moves by about 0.01 between
   two equally good models. A check whose interval cannot be computed (too few events at
   a landmark) fails: non-inferiority is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_schemas.tables import ClinicTables
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from models.predictor import AllianceRiskModel
from training.intervals import per_draw, percentile_interval
from training.metrics import auroc, calibration_slope, expected_calibration_error
from training.resampling import ClusterDraws

AUROC_MARGIN = 0.02
ECE_MARGIN = 0.02
SLOPE_MARGIN = 0.1
GATE_DRAWS = 200
ALL_LANDMARKS = "all"


@dataclass(frozen=True)
class GateMetric:
    """One check: candidate minus champion on one outcome, landmark and metric."""

    outcome: str
    landmark: str
    metric: str
    candidate: float
    champion: float
    difference: float
    lower: float
    upper: float
    margin: float
    passed: bool
    rule: str


@dataclass(frozen=True)
class _Rule:
    metric: str
    margin: float
    higher_is_better: bool
    rule: str

    def distance(self, values: np.ndarray) -> np.ndarray:
        """The compared quantity: the metric, or the slope's distance from 1."""
        return np.abs(values - 1.0) if self.metric == "calibration_slope" else values


RULES: tuple[_Rule, ...] = (
    _Rule("auroc", AUROC_MARGIN, True, f"lower bound of the difference at least -{AUROC_MARGIN}"),
    _Rule("ece", ECE_MARGIN, False, f"upper bound of the difference at most +{ECE_MARGIN}"),
    _Rule(
        "calibration_slope",
        SLOPE_MARGIN,
        False,
        f"distance from 1: upper bound of the difference at most +{SLOPE_MARGIN}",
    ),
)
_POINT = {
    "auroc": auroc,
    "ece": expected_calibration_error,
    "calibration_slope": calibration_slope,
}


@dataclass(frozen=True)
class GateRows:
    """One outcome's labelled evaluation rows with both models' probabilities."""

    y: np.ndarray
    candidate: np.ndarray
    champion: np.ndarray
    clients: np.ndarray
    landmark: np.ndarray


def gate_rows(
    candidate: AllianceRiskModel,
    champion: AllianceRiskModel,
    tables: ClinicTables,
    definitions: OutcomeDefinitions,
) -> dict[str, GateRows]:
    """Both models' probabilities on every labelled evaluation row, per outcome."""
    features = candidate.features.transform(tables)
    labels = landmark_labels(tables, features.index, definitions)
    theirs_features = champion.features.transform(tables).reindex(features.index)
    ours = candidate.score_features(features)
    theirs = champion.score_features(theirs_features)
    out = {}
    for outcome in OUTCOMES:
        rows = labels[outcome].notna().to_numpy()
        out[outcome] = GateRows(
            y=labels[outcome].to_numpy(dtype=float)[rows],
            candidate=ours[outcome][0].probability[rows],
            champion=theirs[outcome][0].probability[rows],
            clients=features.index.get_level_values("client_id").to_numpy()[rows],
            landmark=features.index.get_level_values("landmark").to_numpy()[rows],
        )
    return out


def _checks(outcome: str, landmark: str, rows: GateRows, draws: ClusterDraws) -> list[GateMetric]:
    names = [rule.metric for rule in RULES]
    ours = per_draw(draws, rows.y, rows.candidate, names)
    theirs = per_draw(draws, rows.y, rows.champion, names)
    checks = []
    for rule in RULES:
        point = _POINT[rule.metric]
        candidate = point(rows.y, rows.candidate)
        champion = point(rows.y, rows.champion)
        difference = float(
            rule.distance(np.float64(candidate)) - rule.distance(np.float64(champion))
        )
        lower, upper = percentile_interval(
            rule.distance(ours[rule.metric]) - rule.distance(theirs[rule.metric])
        )
        bound = lower if rule.higher_is_better else upper
        passed = bool(
            np.isfinite(bound)
            and (bound >= -rule.margin if rule.higher_is_better else bound <= rule.margin)
        )
        checks.append(
            GateMetric(
                outcome,
                landmark,
                rule.metric,
                float(candidate),
                float(champion),
                difference,
                lower,
                upper,
                rule.margin,
                passed,
                rule.rule,
            )
        )
    return checks


def compare(
    rows: dict[str, GateRows], *, n_boot: int = GATE_DRAWS, seed: int = 0
) -> list[GateMetric]:
    """Every check: per outcome, all landmarks pooled and each landmark, each metric."""
    checks = []
    for outcome, outcome_rows in rows.items():
        draws = ClusterDraws.draw(outcome_rows.clients, n_boot=n_boot, seed=seed)
        selections = [(ALL_LANDMARKS, np.ones(len(outcome_rows.y), dtype=bool))] + [
            (str(int(k)), outcome_rows.landmark == k) for k in np.unique(outcome_rows.landmark)
        ]
        for landmark, mask in selections:
            subset = GateRows(
                outcome_rows.y[mask],
                outcome_rows.candidate[mask],
                outcome_rows.champion[mask],
                outcome_rows.clients[mask],
                outcome_rows.landmark[mask],
            )
            checks += _checks(outcome, landmark, subset, draws.restrict(mask))
    return checks


def evaluation_summary(rows: dict[str, GateRows]) -> dict[str, int]:
    """Clients and clients with the event per outcome, for the promotion record."""
    summary = {}
    for outcome, outcome_rows in rows.items():
        summary[f"{outcome}_clients"] = len(np.unique(outcome_rows.clients))
        summary[f"{outcome}_event_clients"] = len(
            np.unique(outcome_rows.clients[outcome_rows.y == 1])
        )
    return summary
