"""Input and output drift against the reference profile a model was registered with.

Numbers: the population stability index (PSI) over the reference deciles plus a bin for
missing values. The conventional reading (Yurdakul 2018, "Statistical properties of
population stability index", Western Michigan University dissertation; Siddiqi 2006,
"Credit risk scorecards") is below 0.1 stable, 0.1 to 0.25 a moderate shift worth a look,
0.25 or more a major shift. Categories: the Jensen-Shannon distance (base 2, from 0 to 1)
between the category shares plus a share for missing values; 0.1 is the threshold
Evidently uses by default for categorical drift. Both compare shares, so they do not
become "significant" merely because a clinic has many rows, as a chi-square test would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from features.registry import feature
from models.reference import Distribution, ReferenceProfile

PSI_WARN = 0.1
PSI_ALARM = 0.25
JS_ALARM = 0.1
#: Shares are floored here before PSI's logarithm, so an empty bin counts as rare, not as
#: infinitely different.
SHARE_FLOOR = 1e-4
#: Fewer monitored rows than this leave drift unjudged: sampling noise would dominate.
MIN_ROWS = 100


class Status:
    """What a figure means for the person reading the report."""

    OK = "ok"
    WARN = "warn"
    ALARM = "alarm"
    TOO_FEW = "too few rows"


@dataclass(frozen=True)
class Drift:
    """One feature's (or one outcome's probability) drift."""

    name: str
    label: str
    statistic: str
    value: float
    status: str
    reference_missing: float
    monitored_missing: float
    unseen_categories: int
    n_rows: int


def _with_missing(shares: np.ndarray, missing: float) -> np.ndarray:
    return np.append(np.asarray(shares, dtype=float) * (1.0 - missing), missing)


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """Sum of (actual - expected) * ln(actual / expected) over bins (shares, each sums to 1)."""
    e = np.maximum(np.asarray(expected, dtype=float), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_of(name: str, label: str, reference: Distribution, values: np.ndarray) -> Drift:
    """One distribution's drift; unseen categories count as their own (empty) category."""
    values = np.asarray(values, dtype=float)
    counts, unseen = reference.counts(values)
    missing = float(np.isnan(values).mean()) if len(values) else 0.0
    present = counts.sum() + unseen
    expected = _with_missing(np.append(reference.shares, 0.0), reference.missing_share)
    actual = _with_missing(
        np.append(counts, unseen) / present if present else np.zeros(len(counts) + 1), missing
    )
    if reference.kind == "numeric":
        statistic = "PSI"
        value = population_stability_index(expected, actual)
        status = (
            Status.ALARM if value >= PSI_ALARM else Status.WARN if value >= PSI_WARN else Status.OK
        )
    else:
        statistic = "Jensen-Shannon distance"
        value = float(jensenshannon(expected, actual, base=2))
        status = Status.ALARM if value >= JS_ALARM else Status.OK
    if len(values) < MIN_ROWS:
        status = Status.TOO_FEW
    return Drift(
        name=name,
        label=label,
        statistic=statistic,
        value=value,
        status=status,
        reference_missing=reference.missing_share,
        monitored_missing=missing,
        unseen_categories=unseen,
        n_rows=len(values),
    )


def feature_drift(profile: ReferenceProfile, features: pd.DataFrame) -> list[Drift]:
    """Every profiled feature's drift, largest first within each statistic."""
    found = [
        drift_of(name, feature(name).label, reference, features[name].to_numpy(dtype=float))
        for name, reference in profile.features.items()
    ]
    return sorted(found, key=lambda d: (d.statistic, -d.value))


def probability_drift(
    profile: ReferenceProfile, probabilities: dict[str, np.ndarray]
) -> list[Drift]:
    """Each outcome's calibrated probability against its distribution on the test rows."""
    return [
        drift_of(outcome, f"estimated {outcome} probability", profile.probabilities[outcome], p)
        for outcome, p in probabilities.items()
    ]
