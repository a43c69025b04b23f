"""Percentile bootstrap 95% intervals of held-out metrics and of paired differences.

A client contributes up to five landmark rows, and clients of one therapist share that
therapist; resampling rows would treat them as independent and make the intervals too
narrow, so whole clusters (clients by default, therapists on request) are drawn with
replacement. One set of draws serves every metric, landmark and subgroup of an outcome and
every model scored on the same rows, so a difference between two models is computed within
each draw (a paired bootstrap).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from training.metrics import ALL_METRICS
from training.resampling import (
    ClusterDraws,
    weighted_auprc,
    weighted_auroc,
    weighted_brier,
    weighted_calibration,
    weighted_ece,
    weighted_observed_expected,
)

_WEIGHTED = {
    "auroc": weighted_auroc,
    "auprc": weighted_auprc,
    "brier": weighted_brier,
    "ece": weighted_ece,
    "observed_expected": weighted_observed_expected,
}
_CALIBRATION = ("calibration_slope", "calibration_intercept")


@dataclass(frozen=True)
class Estimate:
    """A metric's point estimate and its bootstrap 95% interval."""

    value: float
    lower: float
    upper: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of the finite draws (NaN when there are none)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    lower, upper = np.percentile(finite, [2.5, 97.5])
    return float(lower), float(upper)


def per_draw(
    draws: ClusterDraws, y: np.ndarray, p: np.ndarray, names: Iterable[str]
) -> dict[str, np.ndarray]:
    """Each metric in every draw; `draws` cover exactly the rows of `y` and `p`."""
    names = tuple(names)
    out: dict[str, np.ndarray] = {}
    if set(names) & set(_CALIBRATION):
        out["calibration_slope"], out["calibration_intercept"] = weighted_calibration(draws, y, p)
    for name in names:
        if name not in out:
            out[name] = _WEIGHTED[name](draws, y, p)
    return {name: out[name] for name in names}


def estimates(
    draws: ClusterDraws, y: np.ndarray, p: np.ndarray, names: Iterable[str]
) -> dict[str, Estimate]:
    """Point estimate and interval of each metric (`draws` cover the rows of `y`, `p`)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    return {
        name: Estimate(ALL_METRICS[name](y, p), *percentile_interval(drawn))
        for name, drawn in per_draw(draws, y, p, names).items()
    }


def paired_differences(
    draws: ClusterDraws, y: np.ndarray, p: np.ndarray, other_p: np.ndarray, names: Iterable[str]
) -> dict[str, Estimate]:
    """Each metric of `p` minus the same metric of `other_p` on the same rows, with the
    interval of the difference within each draw (a paired bootstrap)."""
    names = tuple(names)
    y, p, other_p = (np.asarray(a, dtype=float) for a in (y, p, other_p))
    ours, theirs = per_draw(draws, y, p, names), per_draw(draws, y, other_p, names)
    return {
        name: Estimate(
            ALL_METRICS[name](y, p) - ALL_METRICS[name](y, other_p),
            *percentile_interval(ours[name] - theirs[name]),
        )
        for name in names
    }
