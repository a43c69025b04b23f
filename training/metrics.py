"""Discrimination and calibration metrics of predicted risks against observed outcomes.

Calibration follows Van Calster et al. (2019), "Calibration: the Achilles heel of
predictive analytics", BMC Medicine 17:230: the calibration slope is the coefficient of
the logit of the prediction in a logistic model of the outcome (1 is ideal), and the
calibration intercept (calibration-in-the-large) is the intercept of that model with the
slope fixed at 1 (0 is ideal).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import rankdata

from models.calibration import MarginCalibrator

EPSILON = 1e-9
ECE_BINS = 10


def _two_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < len(y)


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic (ties count one half).

    Equal to sklearn's `roc_auc_score`, without its input checks, which dominate the cost
    when the bootstrap calls this thousands of times.
    """
    if not _two_classes(y):
        return float("nan")
    positives = y == 1
    n_pos = positives.sum()
    n_neg = len(y) - n_pos
    ranks = rankdata(p)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (step-wise area under precision-recall), as sklearn defines it."""
    if not _two_classes(y):
        return float("nan")
    order = np.argsort(-p, kind="stable")
    p_sorted = p[order]
    y_sorted = y[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(p_sorted)), len(p_sorted) - 1]
    true_positives = np.cumsum(y_sorted)[last_of_threshold]
    predicted_positives = last_of_threshold + 1
    precision = true_positives / predicted_positives
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def calibration_slope(y: np.ndarray, p: np.ndarray) -> float:
    if not _two_classes(y):
        return float("nan")
    return MarginCalibrator.fit(logit(np.clip(p, EPSILON, 1 - EPSILON)), y).slope


def calibration_intercept(y: np.ndarray, p: np.ndarray) -> float:
    """Solve sum(y - expit(a + logit p)) = 0 for a (the score equation with offset)."""
    if not _two_classes(y):
        return float("nan")
    offset = logit(np.clip(p, EPSILON, 1 - EPSILON))
    return float(brentq(lambda a: np.sum(y - expit(a + offset)), -20.0, 20.0))


def expected_calibration_error(y: np.ndarray, p: np.ndarray) -> float:
    """Mean |observed - predicted| over ten equal-frequency bins, weighted by bin size.

    Equal-frequency bins keep every bin populated when an outcome is rare (violence),
    where equal-width bins above 0.3 would hold a handful of rows.
    """
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    bins = np.array_split(order, min(ECE_BINS, len(y)))
    return float(sum(len(b) * abs(y[b].mean() - p[b].mean()) for b in bins) / len(y))


def observed_expected(y: np.ndarray, p: np.ndarray) -> float:
    """Observed events over the sum of predicted risks: 1 is ideal, above 1 means the model
    underestimates risk (calibration-in-the-large as a ratio; Riley et al. 2021, Stat Med
    40:4230)."""
    expected = float(np.sum(p))
    return float(np.sum(y)) / expected if expected > 0 else float("nan")


#: The metrics reported overall and per landmark, each with a bootstrap interval.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc": auroc,
    "auprc": auprc,
    "brier": brier,
    "calibration_intercept": calibration_intercept,
    "calibration_slope": calibration_slope,
    "ece": expected_calibration_error,
}

#: Every metric by name, including those reported only for subgroups and comparisons.
ALL_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    **METRICS,
    "observed_expected": observed_expected,
}
