"""Held-out evaluation: overall, per landmark and against the baselines, with intervals.

Every interval of one outcome comes from one set of cluster draws (`ClusterDraws`), so the
model and a baseline are compared within each draw (a paired bootstrap) and a landmark's
interval resamples the same clients as the overall one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from training.intervals import estimates, paired_differences
from training.metrics import METRICS
from training.resampling import ClusterDraws

#: Metrics compared between the model and each baseline (model minus baseline).
COMPARED_METRICS: tuple[str, ...] = ("auroc", "brier")


class BootstrapCluster(StrEnum):
    """What the bootstrap draws with replacement: clients (the default) or therapists.

    Clients of one therapist share the therapist; drawing therapists keeps that
    dependence in every draw and gives wider, more honest intervals when it matters.
    """

    CLIENT = "client"
    THERAPIST = "therapist"


def bootstrap_clusters(
    cluster: BootstrapCluster, client_ids: np.ndarray, clients: pd.DataFrame
) -> np.ndarray:
    """The cluster of each evaluated row: its client, or its client's therapist."""
    if cluster is BootstrapCluster.CLIENT:
        return np.asarray(client_ids)
    therapist_of = clients.drop_duplicates("client_id").set_index("client_id")["therapist_id"]
    return therapist_of.reindex(np.asarray(client_ids)).astype(str).to_numpy()


def _as_dicts(found: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {name: estimate.as_dict() for name, estimate in found.items()}


def evaluate_predictions(
    y: np.ndarray,
    p: np.ndarray,
    client_ids: np.ndarray,
    landmarks: np.ndarray,
    draws: ClusterDraws,
    names: tuple[str, ...] = tuple(METRICS),
) -> dict[str, Any]:
    """Overall and per-landmark metrics (`names` of `training.metrics.ALL_METRICS`), each
    with a bootstrap 95% interval."""
    result: dict[str, Any] = {
        "n_rows": len(y),
        "n_clients": len(np.unique(client_ids)),
        "observed_rate": float(np.mean(y)),
        "overall": _as_dicts(estimates(draws, y, p, names)),
        "by_landmark": {},
    }
    for k in np.unique(landmarks):
        mask = landmarks == k
        result["by_landmark"][int(k)] = {
            "n_rows": int(mask.sum()),
            "observed_rate": float(np.mean(y[mask])),
            **_as_dicts(estimates(draws.restrict(mask), y[mask], p[mask], names)),
        }
    return result


def compare_with(
    y: np.ndarray, model_p: np.ndarray, other_p: np.ndarray, draws: ClusterDraws
) -> dict[str, float]:
    """Another model's AUROC with its interval, and model minus other (AUROC and Brier) with
    paired intervals: a difference whose interval excludes 0 is more than resampling noise."""
    other = estimates(draws, y, other_p, ["auroc"])["auroc"]
    differences = paired_differences(draws, y, model_p, other_p, COMPARED_METRICS)
    result = {"auroc": other.value, "lower": other.lower, "upper": other.upper}
    for name, difference in differences.items():
        suffix = "" if name == "auroc" else f"_{name}"
        result[f"model_minus_other{suffix}"] = difference.value
        result[f"model_minus_other{suffix}_lower"] = difference.lower
        result[f"model_minus_other{suffix}_upper"] = difference.upper
    return result


def headline_metrics(metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The few numbers shown wherever the model speaks: AUROC, calibration, ECE, with
    intervals; `metrics` are each outcome's `evaluate_predictions`."""
    return {
        outcome: {
            name: evaluation["overall"][name]
            for name in (
                "auroc",
                "auprc",
                "brier",
                "calibration_slope",
                "calibration_intercept",
                "ece",
            )
        }
        | {"observed_rate": evaluation["observed_rate"], "n_test_rows": evaluation["n_rows"]}
        for outcome, evaluation in metrics.items()
    }
