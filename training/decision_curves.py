"""Decision curves: would acting on the model help more than acting on everyone or no one?

Net benefit at a threshold probability t (Vickers & Elkin 2006, Med Decis Making 26:565)
counts true positives minus false positives weighted by the odds of t, per client row:
NB(t) = TP/n - FP/n * t / (1 - t). Choosing t says how many false alarms one true alarm
is worth ((1 - t) / t: at 10%, nine). "Treat all" flags everyone, "treat none" no one
(NB = 0). A model is worth using at thresholds where its curve lies above both.

Implemented here rather than with the `dcurves` package, which brings statsmodels and
lifelines for a formula of three lines; the test checks it against a hand count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.outcome import OutcomeModel

#: Threshold probabilities 1%, 2%, ..., 50%.
THRESHOLDS: np.ndarray = np.round(np.arange(1, 51) / 100, 2)
TREAT_ALL = "treat all"
TREAT_NONE = "treat none"
ALL_LANDMARKS = "all"


def net_benefit(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Net benefit of treating rows with predicted risk at or above each threshold."""
    n = len(y)
    if n == 0:
        return np.full(len(thresholds), np.nan)
    order = np.argsort(p, kind="stable")
    events_below = np.r_[0.0, np.cumsum(y[order])]
    first_treated = np.searchsorted(p[order], thresholds, side="left")
    true_positives = events_below[-1] - events_below[first_treated]
    false_positives = (n - first_treated) - true_positives
    return true_positives / n - false_positives / n * thresholds / (1 - thresholds)


def treat_all(y: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Net benefit of treating every row: prevalence - (1 - prevalence) t / (1 - t)."""
    return net_benefit(y, np.ones(len(y)), thresholds)


def decision_curves(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    landmarks: np.ndarray,
    thresholds: np.ndarray = THRESHOLDS,
) -> pd.DataFrame:
    """Net benefit of every scored model, treat all and treat none, over all landmarks and
    at each; columns landmark ("all", "1", ...), threshold, strategy, net_benefit."""
    frames = []
    selections = [(ALL_LANDMARKS, np.ones(len(y), dtype=bool))] + [
        (str(int(k)), landmarks == k) for k in np.unique(landmarks)
    ]
    for landmark, mask in selections:
        curves = {name: net_benefit(y[mask], p[mask], thresholds) for name, p in scores.items()}
        curves[TREAT_ALL] = treat_all(y[mask], thresholds)
        curves[TREAT_NONE] = np.zeros(len(thresholds))
        for strategy, values in curves.items():
            frames.append(
                pd.DataFrame(
                    {
                        "landmark": landmark,
                        "threshold": thresholds,
                        "strategy": strategy,
                        "net_benefit": values,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def band_cut_points(model: OutcomeModel) -> dict[str, dict[str, float]]:
    """The probabilities where the moderate and high bands begin at each landmark: the
    thresholds a clinic acting on a band uses there."""
    return {
        str(k): {"moderate": t.moderate, "high": t.high}
        for k, t in model.thresholds.by_landmark.items()
    }


def useful_range(curves: pd.DataFrame, strategy: str) -> list[float] | None:
    """Lowest and highest threshold (all landmarks) where `strategy` beats treat all and
    treat none, or None where it never does."""
    pooled = curves[curves["landmark"] == ALL_LANDMARKS].pivot(
        index="threshold", columns="strategy", values="net_benefit"
    )
    better = pooled[strategy] > np.maximum(pooled[TREAT_ALL], pooled[TREAT_NONE])
    above = pooled.index[better.to_numpy()]
    return [float(above.min()), float(above.max())] if len(above) else None


def summary(
    curves: pd.DataFrame,
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    landmarks: np.ndarray,
    cut_points: dict[str, dict[str, float]],
    model_name: str,
) -> dict[str, Any]:
    """What the model card and `GET /v1/model` show: the pooled curves, where the model
    beats the defaults, and net benefit at the band thresholds."""
    pooled = curves[curves["landmark"] == ALL_LANDMARKS]
    at_bands = {}
    for landmark, points in cut_points.items():
        mask = (
            np.ones(len(y), dtype=bool) if landmark == ALL_LANDMARKS else landmarks == int(landmark)
        )
        for band, threshold in points.items():
            at = np.array([threshold])
            at_bands.setdefault(landmark, {})[band] = {
                "threshold": threshold,
                **{name: float(net_benefit(y[mask], p[mask], at)[0]) for name, p in scores.items()},
                TREAT_ALL: float(treat_all(y[mask], at)[0]),
            }
    return {
        "thresholds": [float(t) for t in THRESHOLDS],
        "net_benefit": {
            strategy: [float(v) for v in frame["net_benefit"]]
            for strategy, frame in pooled.groupby("strategy", sort=False)
        },
        "model_beats_treat_all_and_none": useful_range(curves, model_name),
        "at_band_thresholds": at_bands,
    }
