"""Held-out evaluation: overall, per landmark, per subgroup, against baselines and the oracle."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from training.metrics import (
    METRICS,
    auroc,
    bootstrap_metrics,
    brier,
    expected_calibration_error,
)

#: Subgroups reported for fairness review (TRIPOD+AI item 14: performance across groups).
SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age_band", "interpreter_used", "setting", "site_id")
AGE_BANDS = (0, 18, 26, 46, 66, 200)
AGE_BAND_LABELS = ("under 18", "18-25", "26-45", "46-65", "66 and over")


def subgroup_attributes(clients: pd.DataFrame, client_ids: pd.Index) -> pd.DataFrame:
    """The attributes that define subgroups, one row per evaluated landmark row."""
    by_id = clients.set_index("client_id")
    rows = by_id.loc[np.asarray(client_ids)]
    return pd.DataFrame(
        {
            "sex": rows["sex"].astype(str).to_numpy(),
            "age_band": pd.cut(
                rows["age_years"].astype(float), AGE_BANDS, right=False, labels=AGE_BAND_LABELS
            ).astype(str),
            "interpreter_used": rows["interpreter_used"].map({True: "yes", False: "no"}).to_numpy(),
            "setting": rows["setting"].astype(str).to_numpy(),
            "site_id": rows["site_id"].astype("string").fillna("(none)").to_numpy(),
        }
    )


def _count(y: np.ndarray, p: np.ndarray) -> float:
    return float(len(y))


def _prevalence(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y)) if len(y) else float("nan")


def _mean_predicted(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(p)) if len(p) else float("nan")


def subgroup_table(y: np.ndarray, p: np.ndarray, attributes: pd.DataFrame) -> pd.DataFrame:
    """AUROC, Brier, ECE, observed and predicted rates for every subgroup, via MetricFrame."""
    frames = []
    for column in SUBGROUP_COLUMNS:
        frame = MetricFrame(
            metrics={
                "n_rows": _count,
                "observed_rate": _prevalence,
                "mean_predicted": _mean_predicted,
                "auroc": auroc,
                "brier": brier,
                "ece": expected_calibration_error,
            },
            y_true=y,
            y_pred=p,
            sensitive_features=attributes[column].to_numpy(),
        ).by_group
        frame.index = pd.MultiIndex.from_product(
            [[column], frame.index], names=["attribute", "group"]
        )
        frames.append(frame)
    return pd.concat(frames)


def evaluate_predictions(
    y: np.ndarray,
    p: np.ndarray,
    client_ids: np.ndarray,
    landmarks: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Overall and per-landmark metrics, each with a client-bootstrap 95% interval."""
    result: dict[str, Any] = {
        "n_rows": len(y),
        "n_clients": len(np.unique(client_ids)),
        "observed_rate": float(np.mean(y)),
        "overall": {
            name: estimate.as_dict()
            for name, estimate in bootstrap_metrics(
                y, p, client_ids, n_boot=n_boot, seed=seed
            ).items()
        },
        "by_landmark": {},
    }
    for k in np.unique(landmarks):
        mask = landmarks == k
        result["by_landmark"][int(k)] = {
            "n_rows": int(mask.sum()),
            "observed_rate": float(np.mean(y[mask])),
            **{
                name: estimate.as_dict()
                for name, estimate in bootstrap_metrics(
                    y[mask], p[mask], client_ids[mask], n_boot=n_boot, seed=seed
                ).items()
            },
        }
    return result


def compare_auroc(
    y: np.ndarray,
    model_p: np.ndarray,
    other_p: np.ndarray,
    client_ids: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    """Other model's AUROC with interval and the paired difference (model minus other)."""
    other = bootstrap_metrics(
        y, other_p, client_ids, n_boot=n_boot, seed=seed, metrics={"auroc": METRICS["auroc"]}
    )["auroc"]
    return {
        "auroc": other.value,
        "lower": other.lower,
        "upper": other.upper,
        "model_minus_other": auroc(y, model_p) - other.value,
    }
