"""Evaluation metrics: equal to the reference implementations, intervals that resample clients."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.calibration import MarginCalibrator
from training.metrics import (
    auprc,
    auroc,
    bootstrap_metrics,
    brier,
    calibration_intercept,
    calibration_slope,
    expected_calibration_error,
)


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    p = np.round(rng.beta(1, 6, 3000), 3)
    y = (rng.random(3000) < p).astype(float)
    return y, p


def test_auroc_and_auprc_equal_sklearn_including_ties(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_metrics_are_nan_when_only_one_class_is_present() -> None:
    y = np.zeros(10)
    p = np.linspace(0.1, 0.5, 10)
    assert np.isnan(auroc(y, p))
    assert np.isnan(calibration_slope(y, p))


def test_calibrator_matches_unpenalised_logistic_regression(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    margin = 2.0 * logit(np.clip(p, 1e-6, 1 - 1e-6)) + 0.5
    fitted = MarginCalibrator.fit(margin, y)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(margin[:, None], y)
    assert fitted.slope == pytest.approx(reference.coef_[0, 0], abs=1e-5)
    assert fitted.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)


def test_perfectly_calibrated_predictions_have_slope_one_and_intercept_zero() -> None:
    rng = np.random.default_rng(1)
    p = expit(rng.normal(-1.5, 1.0, 200_000))
    y = (rng.random(len(p)) < p).astype(float)
    assert calibration_slope(y, p) == pytest.approx(1.0, abs=0.03)
    assert calibration_intercept(y, p) == pytest.approx(0.0, abs=0.02)
    assert expected_calibration_error(y, p) < 0.01


def test_overconfident_predictions_have_slope_below_one() -> None:
    rng = np.random.default_rng(2)
    true_logit = rng.normal(-1.0, 1.0, 100_000)
    y = (rng.random(len(true_logit)) < expit(true_logit)).astype(float)
    assert calibration_slope(y, expit(2.0 * true_logit)) == pytest.approx(0.5, abs=0.03)


def test_bootstrap_interval_contains_the_estimate_and_resamples_clients(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    one_row_per_client = bootstrap_metrics(y, p, np.arange(len(y)), n_boot=100, seed=0)
    five_rows_per_client = bootstrap_metrics(
        np.repeat(y, 5), np.repeat(p, 5), np.repeat(np.arange(len(y)), 5), n_boot=100, seed=0
    )
    for name, estimate in one_row_per_client.items():
        assert estimate.lower <= estimate.value <= estimate.upper, name
    width_one = one_row_per_client["auroc"].upper - one_row_per_client["auroc"].lower
    width_five = five_rows_per_client["auroc"].upper - five_rows_per_client["auroc"].lower
    assert width_five == pytest.approx(width_one, rel=0.35)


def test_bootstrap_is_reproducible(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    first = bootstrap_metrics(y, p, np.arange(len(y)), n_boot=30, seed=4)
    second = bootstrap_metrics(y, p, np.arange(len(y)), n_boot=30, seed=4)
    assert first == second
