"""How well the model fits a clinic's recent rows: measured where outcomes are known,
estimated where they are not yet.

With outcomes, the figures are the training run's own (`training.evaluation`,
`training.subgroups`): AUROC, calibration slope and intercept, observed/expected ratio,
each with a 95% cluster-bootstrap interval, overall, per landmark and per subgroup
(site among them). Alarm limits, stated once here:

- calibration: the observed/expected ratio or the calibration slope lies outside
  `CALIBRATION_LIMITS`, its interval excludes 1, and it differs from the model's own
  validation figure by more than chance allows (Van Calster et al. 2019, BMC Med 17:230,
  on calibration as the Achilles heel of deployed models). A model already outside the
  limits at validation shows so in its card; monitoring alarms when it moves;
- discrimination: the AUROC lies below the model's own validation AUROC at the same scope
  (all rows, or one session) by more than `AUROC_DROP_LIMIT` (material: a smaller loss
  is within what case mix alone moves, see the expected AUROC below) and by more than
  chance allows: the difference exceeds 1.96
  standard errors of the two, each read from its 95% interval (the validation figure is
  itself an estimate from a few thousand test rows). Subgroups are judged on calibration
  only: a subgroup's AUROC differs from the whole population's by case mix alone.

Without outcomes, the expected AUROC is the confidence-based performance estimate
(NannyML's CBPE idea): if the probabilities are calibrated, a pair (i, j) is a
(case, non-case) pair with probability p_i (1 - p_j), so the AUROC to expect on these rows
is the pair-weighted share of correctly ordered pairs. It moves with case mix (a clinic
whose clients are more alike is harder to rank) and is only as good as the calibration it
assumes, which is why outcomes, once known, overrule it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.evaluation import evaluate_predictions
from training.metrics import ALL_METRICS
from training.resampling import ClusterDraws
from training.subgroups import SUBGROUP_METRICS, subgroup_table

#: Observed/expected ratio and calibration slope outside these limits, with an interval
#: that excludes 1, raise the alarm.
CALIBRATION_LIMITS = (0.8, 1.25)


@dataclass(frozen=True)
class Alarm:
    """One figure outside its limits, and why that matters."""

    outcome: str
    scope: str
    metric: str
    value: float
    lower: float
    upper: float
    reference: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def expected_auroc(p: np.ndarray) -> float:
    """The AUROC calibrated probabilities `p` imply for their own rows (ties count half)."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    negative = 1.0 - sorted_p
    starts = np.searchsorted(sorted_p, sorted_p, side="left")
    ends = np.searchsorted(sorted_p, sorted_p, side="right")
    below = np.concatenate([[0.0], np.cumsum(negative)])
    tied = below[ends] - below[starts] - negative  # other rows with the same probability
    correct = np.sum(sorted_p * (below[starts] + 0.5 * tied))
    pairs = p.sum() * negative.sum() - np.sum(p * (1.0 - p))
    return float(correct / pairs) if pairs > 0 else float("nan")


def _calibration_alarm(
    outcome: str,
    scope: str,
    metric: str,
    estimate: dict[str, float],
    validated: dict[str, float] | None,
) -> Alarm | None:
    value, lower, upper = estimate["value"], estimate["lower"], estimate["upper"]
    low, high = CALIBRATION_LIMITS
    if np.isnan(value) or low <= value <= high or lower <= 1.0 <= upper:
        return None
    if validated is not None and not _beyond_chance(estimate, validated):
        return None
    direction = "more" if value > 1 else "fewer"
    reason = (
        f"{direction} outcomes than the model expects"
        if metric == "observed_expected"
        else "estimates too extreme: they spread more than the outcomes do"
        if value < 1
        else "estimates too timid: outcomes differ more than the estimates say"
    )
    return Alarm(outcome, scope, metric, value, lower, upper, 1.0, reason)


#: A fall in AUROC from validation smaller than this raises no alarm.
AUROC_DROP_LIMIT = 0.05
#: Normal quantile of a two-sided 95% interval: half-width / this = standard error.
Z_95 = 1.96


def _standard_error(estimate: dict[str, float]) -> float:
    return (estimate["upper"] - estimate["lower"]) / (2 * Z_95)


def _beyond_chance(estimate: dict[str, float], validated: dict[str, float]) -> bool:
    """Whether two independent estimates differ by more than 1.96 standard errors."""
    spread = np.hypot(_standard_error(estimate), _standard_error(validated))
    return bool(abs(estimate["value"] - validated["value"]) > Z_95 * spread)


def _discrimination_alarm(
    outcome: str, scope: str, estimate: dict[str, float], validated: dict[str, float] | None
) -> Alarm | None:
    if validated is None or np.isnan(estimate["value"]):
        return None
    if validated["value"] - estimate["value"] <= AUROC_DROP_LIMIT:
        return None
    if not _beyond_chance(estimate, validated):
        return None
    return Alarm(
        outcome,
        scope,
        "auroc",
        estimate["value"],
        estimate["lower"],
        estimate["upper"],
        validated["value"],
        "ranks clients less well than at validation",
    )


def scope_alarms(
    outcome: str,
    scope: str,
    figures: dict[str, Any],
    validated: dict[str, Any],
    *,
    judge_auroc: bool = True,
) -> list[Alarm]:
    """The alarms of one scope's figures (`training.evaluation` estimate dicts) against the
    validation figures `validated` of the same scope (or of all rows, for a subgroup)."""
    found = [
        _calibration_alarm(outcome, scope, metric, figures[metric], validated.get(metric))
        for metric in ("observed_expected", "calibration_slope")
    ]
    if judge_auroc:
        found.append(
            _discrimination_alarm(outcome, scope, figures["auroc"], validated.get("auroc"))
        )
    return [alarm for alarm in found if alarm is not None]


@dataclass(frozen=True)
class OutcomePerformance:
    """One outcome's measured figures on the monitored rows, and their alarms."""

    outcome: str
    figures: dict[str, Any]
    subgroups: pd.DataFrame
    alarms: list[Alarm]


def measured_performance(
    outcome: str,
    y: np.ndarray,
    p: np.ndarray,
    clusters: np.ndarray,
    landmarks: np.ndarray,
    attributes: pd.DataFrame,
    validation: dict[str, Any] | None,
    *,
    n_boot: int,
    seed: int,
    min_events: int,
) -> OutcomePerformance:
    """Figures overall, per landmark and per subgroup, judged against `validation` (the
    model's own test figures from its reference profile; None when it has none). A scope
    with fewer than `min_events` clients with the outcome, or without it, is shown but not
    judged: its intervals are too wide to tell drift from chance."""
    draws = ClusterDraws.draw(clusters, n_boot=n_boot, seed=seed)
    figures = evaluate_predictions(y, p, clusters, landmarks, draws, tuple(ALL_METRICS))
    groups = subgroup_table(y, p, clusters, attributes, draws, min_events=min_events)

    validation = validation or {}
    overall = validation.get("overall", {})

    def enough(mask: np.ndarray) -> bool:
        """As for subgroups: too few clients with (or without) the outcome are not judged."""
        with_outcome = len(np.unique(clusters[mask & (y == 1)]))
        without = len(np.unique(clusters[mask & (y == 0)]))
        return min(with_outcome, without) >= min_events

    alarms = []
    if enough(np.ones(len(y), dtype=bool)):
        alarms += scope_alarms(outcome, "all rows", figures["overall"], overall)
    for k, at in figures["by_landmark"].items():
        if enough(landmarks == k):
            reference = validation.get("by_landmark", {}).get(int(k), {})
            alarms += scope_alarms(outcome, f"session {k}", at, reference)
    for (attribute, group), row in groups[~groups["too_small"]].iterrows():
        estimates = {
            name: {
                "value": row[name],
                "lower": row[f"{name}_lower"],
                "upper": row[f"{name}_upper"],
            }
            for name in SUBGROUP_METRICS
        }
        alarms += scope_alarms(
            outcome, f"{attribute} {group}", estimates, overall, judge_auroc=False
        )
    return OutcomePerformance(outcome, figures, groups, alarms)
