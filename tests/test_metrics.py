"""Evaluation metrics: equal to the reference implementations, intervals that resample clusters,
computed for every draw at once exactly as for the rows each draw repeats."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.calibration import MarginCalibrator
from training import resampling
from training.intervals import (
    Estimate,
    estimates,
    paired_differences,
    per_draw,
    percentile_interval,
)
from training.metrics import (
    ALL_METRICS,
    METRICS,
    auprc,
    auroc,
    brier,
    calibration_intercept,
    calibration_slope,
    expected_calibration_error,
)
from training.resampling import ClusterDraws, widened


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


def bootstrap_metrics(
    y: np.ndarray,
    p: np.ndarray,
    clusters: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    metrics: Iterable[str] = tuple(METRICS),
) -> dict[str, Estimate]:
    """Every metric with its interval from one set of cluster draws."""
    return estimates(ClusterDraws.draw(clusters, n_boot=n_boot, seed=seed), y, p, metrics)


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


def _expanded(draws: ClusterDraws, draw: int) -> np.ndarray:
    """The rows of one draw, each repeated as often as its cluster was drawn."""
    times = draws.counts[draw, draws.cluster_index].astype(int)
    return np.repeat(np.arange(len(times)), times)


def test_every_metric_of_every_draw_equals_the_metric_of_the_rows_it_repeats(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    clusters = np.repeat(np.arange(len(y) // 3), 3)
    draws = ClusterDraws.draw(clusters, n_boot=6, seed=1)
    values = per_draw(draws, y, p, ALL_METRICS)
    for draw in range(6):
        rows = _expanded(draws, draw)
        for name, metric in ALL_METRICS.items():
            # Calibration fits are solved by a series expansion; within 1e-4 of refitting.
            tolerance = 1e-4 if name.startswith("calibration") else 1e-9
            assert values[name][draw] == pytest.approx(metric(y[rows], p[rows]), abs=tolerance)


@pytest.mark.parametrize(("n_clients", "base_logit"), [(400, -2.5), (1500, -3.5), (5000, -1.2)])
def test_calibration_intervals_match_refitting_every_draw(
    n_clients: int, base_logit: float
) -> None:
    """The expansion used for speed moves no bound by more than 3% of the interval width."""
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(n_clients), 4)
    risk = rng.normal(base_logit, 1.0, n_clients)[clusters] + rng.normal(0, 0.3, len(clusters))
    y = (rng.random(n_clients)[clusters] < expit(risk)).astype(float)
    p = expit(0.9 * risk + 0.1)
    draws = ClusterDraws.draw(clusters, n_boot=100, seed=0)
    fast = per_draw(draws, y, p, ["calibration_slope", "calibration_intercept"])
    for name, metric in (
        ("calibration_slope", calibration_slope),
        ("calibration_intercept", calibration_intercept),
    ):
        refitted = np.array(
            [metric(y[_expanded(draws, d)], p[_expanded(draws, d)]) for d in range(100)]
        )
        exact, ours = percentile_interval(refitted), percentile_interval(fast[name])
        width = exact[1] - exact[0]
        assert abs(ours[0] - exact[0]) <= 0.03 * width, name
        assert abs(ours[1] - exact[1]) <= 0.03 * width, name


def test_a_model_compared_with_itself_differs_by_exactly_zero(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    draws = ClusterDraws.draw(np.arange(len(y)), n_boot=50, seed=0)
    same = paired_differences(draws, y, p, p, ["auroc", "brier", "calibration_slope"])
    for estimate in same.values():
        assert (estimate.value, estimate.lower, estimate.upper) == (0.0, 0.0, 0.0)


def test_a_paired_interval_is_narrower_than_the_two_separate_intervals(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    """Pairing cancels what both models share: the point of a paired bootstrap."""
    y, p = scored
    rng = np.random.default_rng(8)
    other = np.clip(p + rng.normal(0, 0.01, len(p)), 0.001, 0.999)
    draws = ClusterDraws.draw(np.arange(len(y)), n_boot=200, seed=0)
    difference = paired_differences(draws, y, p, other, ["auroc"])["auroc"]
    separate = bootstrap_metrics(y, p, np.arange(len(y)), n_boot=200, seed=0, metrics=["auroc"])
    assert difference.upper - difference.lower < 0.5 * (
        separate["auroc"].upper - separate["auroc"].lower
    )


def test_resampling_therapists_widens_intervals_when_therapists_differ() -> None:
    rng = np.random.default_rng(4)
    therapists = np.repeat(np.arange(40), 100)
    clients = np.arange(len(therapists))
    effect = rng.normal(0, 1.0, 40)[therapists]
    p = expit(-1.5 + rng.normal(0, 1, len(clients)))
    y = (rng.random(len(clients)) < expit(logit(p) + effect)).astype(float)
    by_client = bootstrap_metrics(
        y, p, clients, n_boot=200, seed=0, metrics=["calibration_intercept"]
    )
    by_therapist = bootstrap_metrics(
        y, p, therapists, n_boot=200, seed=0, metrics=["calibration_intercept"]
    )
    width = {
        k: v["calibration_intercept"].upper - v["calibration_intercept"].lower
        for k, v in (("c", by_client), ("t", by_therapist))
    }
    assert width["t"] > 2 * width["c"]


@pytest.mark.parametrize("n_clusters", [1, 7, 2_001])
def test_bootstrap_draws_are_those_of_one_matrix_of_picks(n_clusters: int) -> None:
    """Drawing one draw's picks at a time (to bound memory) reads the generator's stream
    exactly as drawing every pick at once did, so intervals did not move."""
    clusters = np.repeat(np.arange(n_clusters), 3)
    draws = ClusterDraws.draw(clusters, n_boot=40, seed=9)
    picks = np.random.default_rng(9).integers(0, n_clusters, (40, n_clusters))
    expected = np.stack([np.bincount(row, minlength=n_clusters) for row in picks])
    np.testing.assert_array_equal(draws.counts, expected)


def test_bootstrap_counts_widen_before_a_count_would_overflow() -> None:
    """Counts are held in one byte; a draw that picked a cluster 256 times or more widens
    the matrix first, keeping every earlier count."""
    counts = np.array([[3, 255], [0, 1]], dtype=np.uint8)
    assert widened(counts, 255) is counts
    wider = widened(counts, 300)
    assert wider.dtype == np.uint16
    np.testing.assert_array_equal(wider, counts)


def test_bootstrap_sums_equal_one_float_matrix_product() -> None:
    """Reading the byte counts a block of draws at a time, and for a subgroup only its own
    clusters, gives the float product; BLAS may sum in another order, so equal to the last
    bits, not bit for bit."""
    rng = np.random.default_rng(4)
    clusters = rng.integers(0, 30_000, 90_000)
    draws = ClusterDraws.draw(clusters, n_boot=300, seed=2)
    values = rng.normal(size=len(clusters))
    per_cluster = np.bincount(draws.cluster_index, values, minlength=draws.counts.shape[1])
    assert draws.counts.dtype == np.uint8
    expected = draws.counts.astype(float) @ per_cluster
    np.testing.assert_allclose(draws.sums(values), expected, rtol=1e-12, atol=1e-9)
    # A subgroup's sums read only its own clusters' counts.
    rows = rng.random(len(clusters)) < 0.03
    subgroup = draws.restrict(rows)
    per_cluster = np.bincount(subgroup.cluster_index, values[rows], minlength=draws.counts.shape[1])
    expected = draws.counts.astype(float) @ per_cluster
    for found in (subgroup.sums(values[rows]), *subgroup.sums_of([values[rows]] * 2)):
        np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-9)


def test_rank_metrics_of_every_draw_do_not_depend_on_how_draws_are_blocked(
    scored: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUROC, AUPRC and ECE read row weights a block of draws at a time; each draw is its own
    computation, so blocks of one draw give every figure bit for bit."""
    y, p = scored
    draws = ClusterDraws.draw(np.repeat(np.arange(len(y) // 3), 3), n_boot=7, seed=3)
    ranked = ("auroc", "auprc", "ece")
    blocked = per_draw(draws, y, p, ranked)
    monkeypatch.setattr(resampling, "ROW_WEIGHT_CELLS", 1)
    one_by_one = per_draw(draws, y, p, ranked)
    for name in ranked:
        np.testing.assert_array_equal(one_by_one[name], blocked[name])
