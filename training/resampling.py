"""Cluster bootstrap drawn once as counts, and metrics computed for every draw at once.

Drawing whole clusters (clients, or therapists with `--bootstrap-cluster therapist`) with
replacement is the same as giving each row the number of times its cluster was drawn as a
frequency weight. All draws are one count matrix (draws x clusters), so a metric is a few
matrix operations over every draw instead of a Python loop that copies rows each time:

- sums (Brier, observed/expected): per-cluster sums, then one matrix-vector product;
- AUROC, AUPRC, ECE: rows sorted by score once; per draw, cumulative sums of weights;
- calibration slope and intercept (Van Calster et al. 2019, BMC Med 17:230): the logistic
  score equations expanded about the full-data fit to fourth order in the change of the
  coefficients. Their terms are sums over rows, so per-cluster sums are computed once and
  each draw solves a two-parameter polynomial system; on cohorts of 400 clients or more the
  interval bounds differ from refitting every draw by under 3% of the interval's width,
  and by far less on larger ones (tested in tests/test_metrics.py).

Each function equals its unweighted counterpart in `training.metrics` applied to the rows
repeated by their weights (tested).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from math import comb, factorial

import numpy as np
from scipy.special import expit, logit

from models.calibration import MarginCalibrator
from training.metrics import ECE_BINS, EPSILON, calibration_intercept

#: Draws processed together in the sums' matrix products: bounds each draws x clusters
#: matrix to about 32 MB at any size. Kept as it is: a product over blocks of another
#: shape may sum in another order and move a figure's last bits.
CELLS_PER_CHUNK = 4_000_000
#: Draws processed together as row weights (AUROC, AUPRC, ECE): about 8 MB per draws x rows
#: matrix, of which those metrics hold half a dozen at once (cumulative sums, gathers,
#: products). Each draw is computed on its own, so the block size changes no figure; at
#: this size they also run faster than in 32 MB blocks (the blocks stay in cache).
ROW_WEIGHT_CELLS = 1_000_000
#: Order of the expansion of the logistic score in the calibration fits.
TAYLOR_ORDER = 4
NEWTON_STEPS = 8
#: Draws whose coefficients moved further than this from the full-data fit, or did not
#: converge, are refitted exactly: the expansion is only trusted close to where it was made.
TRUSTED_CHANGE = 0.25


@dataclass(frozen=True)
class ClusterDraws:
    """How often each cluster was drawn in each bootstrap draw, and each row's cluster.

    The counts are small integers held in the narrowest unsigned type that fits them (one
    byte unless a cluster is drawn 256 times in a draw): 200 draws of 200,000 test clients
    take 40 MB instead of 320 MB as floats. Every computation reads them as floats a block
    of draws at a time (the same figures to the last bits: a block's matrix product may sum
    in another order than the whole matrix's did).
    """

    counts: np.ndarray  # draws x clusters
    cluster_index: np.ndarray  # the column of `counts` of each row

    @classmethod
    def draw(cls, clusters: np.ndarray, *, n_boot: int, seed: int) -> ClusterDraws:
        """`n_boot` draws of as many clusters as there are, with replacement."""
        _, cluster_index = np.unique(np.asarray(clusters), return_inverse=True)
        n_clusters = int(cluster_index.max()) + 1 if len(cluster_index) else 0
        rng = np.random.default_rng(seed)
        counts = np.zeros((n_boot, n_clusters), dtype=np.uint8)
        if n_clusters:
            # One draw's picks at a time: the same stream as drawing all at once (tested),
            # without holding n_boot x n_clusters int64 picks beside the counts.
            for draw in range(n_boot):
                drawn = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
                counts = widened(counts, int(drawn.max()))
                counts[draw] = drawn
        return cls(counts, cluster_index.ravel())

    @property
    def n_boot(self) -> int:
        return self.counts.shape[0]

    def restrict(self, rows: np.ndarray) -> ClusterDraws:
        """The same draws for a subset of the rows (a boolean mask or row numbers)."""
        return ClusterDraws(self.counts, self.cluster_index[rows])

    def weights(self, draw: int) -> np.ndarray:
        """One draw's weight of each row."""
        return self.counts[draw, self.cluster_index].astype(np.float64)

    def _draw_blocks(self, width: int, cells: int = CELLS_PER_CHUNK) -> Iterator[np.ndarray]:
        """The counts by blocks of draws, sized so that a block of `width` columns as floats
        holds about `cells` cells."""
        step = max(1, cells // max(1, width))
        for start in range(0, self.n_boot, step):
            yield self.counts[start : start + step]

    @cached_property
    def _used_clusters(self) -> tuple[np.ndarray | None, np.ndarray]:
        """The clusters these rows belong to (None: all of them) and each row's position
        among them."""
        drawn = np.bincount(self.cluster_index, minlength=self.counts.shape[1]) > 0
        if drawn.all():
            return None, self.cluster_index
        return np.flatnonzero(drawn), (np.cumsum(drawn) - 1)[self.cluster_index]

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per draw, the weighted sum of one value per row."""
        [found] = self.sums_of([values])
        return found

    def sums_of(self, values: list[np.ndarray]) -> list[np.ndarray]:
        """`sums` of each array of `values`, reading the counts once for all of them, and
        only the clusters these rows belong to (a subgroup's, when restricted)."""
        columns, position = self._used_clusters
        width = self.counts.shape[1] if columns is None else len(columns)
        per_cluster = np.column_stack([np.bincount(position, v, minlength=width) for v in values])
        blocks = [
            (block if columns is None else block[:, columns]).astype(np.float64) @ per_cluster
            for block in self._draw_blocks(width)
        ]
        found = np.concatenate(blocks) if blocks else np.empty((0, len(values)))
        return list(found.T)

    def chunks(self, *orders: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
        """Row weights (draws x rows) of the rows in each `orders` array, by blocks of draws."""
        for block in self._draw_blocks(sum(len(order) for order in orders), ROW_WEIGHT_CELLS):
            yield tuple(block[:, self.cluster_index[order]].astype(np.float64) for order in orders)


def widened(counts: np.ndarray, largest: int) -> np.ndarray:
    """`counts`, in a wider unsigned type if `largest` does not fit its own."""
    if largest <= np.iinfo(counts.dtype).max:
        return counts
    return counts.astype(np.min_scalar_type(largest))


def _each_draw(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0)


def weighted_auroc(draws: ClusterDraws, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """AUROC per draw; ties count one half; NaN for a draw without both classes.

    For each positive, the negatives scored below it (and tied with it) are a cumulative
    sum of negative weights in score order, read at positions found once for all draws.
    """
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y != 1)
    negatives = negatives[np.argsort(p[negatives], kind="stable")]
    scores = p[negatives]
    below = np.searchsorted(scores, p[positives], side="left")
    upto = np.searchsorted(scores, p[positives], side="right")
    parts = []
    for w_pos, w_neg in draws.chunks(positives, negatives):
        cumulative = np.c_[np.zeros(len(w_neg)), np.cumsum(w_neg, axis=1)]
        wins = (w_pos * (cumulative[:, below] + cumulative[:, upto])).sum(axis=1) / 2
        pairs = w_pos.sum(axis=1) * cumulative[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append(np.where(pairs > 0, wins / pairs, np.nan))
    return _each_draw(parts)


def _tie_starts(sorted_scores: np.ndarray) -> np.ndarray:
    return np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]


def weighted_auprc(draws: ClusterDraws, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Average precision per draw, as `training.metrics.auprc` on the expanded rows."""
    order = np.argsort(-p, kind="stable")
    starts = _tie_starts(-p[order])
    positive = y[order] == 1
    parts = []
    for (w,) in draws.chunks(order):
        tp = np.cumsum(np.add.reduceat(w * positive, starts, axis=1), axis=1)
        predicted = np.cumsum(np.add.reduceat(w, starts, axis=1), axis=1)
        total = tp[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            recall_step = np.diff(np.c_[np.zeros(len(w)), tp], axis=1) / total
            area = np.nansum(recall_step * tp / predicted, axis=1)
        parts.append(np.where((total[:, 0] > 0) & (total[:, 0] < predicted[:, -1]), area, np.nan))
    return _each_draw(parts)


def weighted_brier(draws: ClusterDraws, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        squared, rows = draws.sums_of([(p - y) ** 2, np.ones_like(p)])
        return squared / rows


def weighted_observed_expected(draws: ClusterDraws, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        observed, expected = draws.sums_of([y, p])
        return observed / expected


def weighted_ece(draws: ClusterDraws, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ECE per draw over ten equal-frequency bins of the expanded resample.

    The expanded resample sorted by score is the rows sorted (stably) with each repeated by
    its weight; a bin edge may fall among one row's copies, which are split accordingly.
    """
    order = np.argsort(p, kind="stable")
    y_sorted, p_sorted = y[order], p[order]
    out = []
    for (w,) in draws.chunks(order):
        zero = np.zeros(len(w))
        cumulative = np.c_[zero, np.cumsum(w, axis=1)]
        cum_y = np.c_[zero, np.cumsum(w * y_sorted, axis=1)]
        cum_p = np.c_[zero, np.cumsum(w * p_sorted, axis=1)]
        for draw in range(len(w)):
            n = round(cumulative[draw, -1])
            if n == 0:
                out.append(np.nan)
                continue
            n_bins = min(ECE_BINS, n)
            sizes = np.full(n_bins, n // n_bins)
            sizes[: n % n_bins] += 1
            edges = np.r_[0, np.cumsum(sizes)].astype(float)
            at_y = _at_positions(cumulative[draw], cum_y[draw], y_sorted, edges)
            at_p = _at_positions(cumulative[draw], cum_p[draw], p_sorted, edges)
            out.append(np.abs(np.diff(at_y) - np.diff(at_p)).sum() / n)
    return np.asarray(out, dtype=float)


def _at_positions(
    cumulative: np.ndarray, running: np.ndarray, values: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """The running sum of `values` over the first `positions` expanded rows."""
    row = np.clip(np.searchsorted(cumulative, positions, side="right") - 1, 0, len(values) - 1)
    return running[row] + (positions - cumulative[row]) * values[row]


def _expit_derivatives(mu: np.ndarray) -> list[np.ndarray]:
    """The first four derivatives of the logistic function at logit(mu)."""
    v = mu * (1.0 - mu)
    return [v, v * (1 - 2 * mu), v * (1 - 6 * v), v * (1 - 2 * mu) * (1 - 12 * v)]


def _two_classes(draws: ClusterDraws, y: np.ndarray) -> np.ndarray:
    events, rows = draws.sums_of([y, np.ones_like(y)])
    return (events > 0) & (events < rows)


def weighted_calibration(
    draws: ClusterDraws, y: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Calibration slope and intercept (slope fixed at 1) per draw; NaN without both classes."""
    nan = np.full(draws.n_boot, np.nan)
    if not (0 < y.sum() < len(y)):
        return nan, nan
    x = logit(np.clip(p, EPSILON, 1 - EPSILON))
    full = MarginCalibrator.fit(x, y)
    intercept, slope = _slope_draws(draws, y, x, full.intercept, full.slope)
    in_the_large = _intercept_draws(draws, y, x, calibration_intercept(y, p))
    ok = _two_classes(draws, y)
    far = ok & ~(
        (np.abs(slope - full.slope) <= TRUSTED_CHANGE)
        & (np.abs(intercept - full.intercept) <= TRUSTED_CHANGE)
    )
    for draw in np.flatnonzero(far):
        weights = draws.weights(draw)
        kept = weights > 0
        rows = np.repeat(np.flatnonzero(kept), weights[kept].astype(np.int64))
        slope[draw] = MarginCalibrator.fit(x[rows], y[rows]).slope
    return np.where(ok, slope, np.nan), np.where(ok, in_the_large, np.nan)


def _slope_draws(
    draws: ClusterDraws, y: np.ndarray, x: np.ndarray, a0: float, b0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope of y ~ a + b x in every draw, from the score expanded about
    (a0, b0); a draw that does not converge gets NaN.

    The score is sum w x^j (y - expit(a0 + b0 x + d)), d = da + db x, j = 0, 1; expanding
    expit in d, every term is a weighted sum of x^j times a derivative at the full fit.
    """
    mu = expit(a0 + b0 * x)
    derivatives = _expit_derivatives(mu)
    terms = [(m, j) for m in range(1, TAYLOR_ORDER + 1) for j in range(m + 2)]
    found = draws.sums_of(
        [(y - mu) * x**j for j in range(2)] + [derivatives[m - 1] * x**j for m, j in terms]
    )
    residual, moment = found[:2], dict(zip(terms, found[2:], strict=True))
    da, db = np.zeros(draws.n_boot), np.zeros(draws.n_boot)
    for _ in range(NEWTON_STEPS):
        score = [residual[0].copy(), residual[1].copy()]
        jacobian = np.zeros((draws.n_boot, 2, 2))
        for m in range(1, TAYLOR_ORDER + 1):
            for i in range(m + 1):
                c = comb(m, i) / factorial(m)
                term = c * da ** (m - i) * db**i
                by_a = c * (m - i) * da ** max(m - i - 1, 0) * db**i
                by_b = c * i * da ** (m - i) * db ** max(i - 1, 0)
                for j in range(2):
                    score[j] = score[j] - term * moment[(m, i + j)]
                    jacobian[:, j, 0] -= by_a * moment[(m, i + j)]
                    jacobian[:, j, 1] -= by_b * moment[(m, i + j)]
        (j_aa, j_ab), (j_ba, j_bb) = jacobian[:, 0].T, jacobian[:, 1].T
        det = j_aa * j_bb - j_ab * j_ba
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            step_a = (j_bb * score[0] - j_ab * score[1]) / det
            step_b = (j_aa * score[1] - j_ba * score[0]) / det
        da, db = da - step_a, db - step_b
    converged = (np.abs(step_a) < 1e-8) & (np.abs(step_b) < 1e-8)
    return np.where(converged, a0 + da, np.nan), np.where(converged, b0 + db, np.nan)


def _intercept_draws(draws: ClusterDraws, y: np.ndarray, x: np.ndarray, c0: float) -> np.ndarray:
    """Calibration-in-the-large in every draw: sum w (y - expit(c + x)) = 0, expanded at c0."""
    mu = expit(c0 + x)
    derivatives = _expit_derivatives(mu)
    residual, *moment = draws.sums_of([y - mu, *derivatives])
    dc = np.zeros(draws.n_boot)
    for _ in range(NEWTON_STEPS):
        score = residual - sum(
            dc**m / factorial(m) * moment[m - 1] for m in range(1, TAYLOR_ORDER + 1)
        )
        slope = -sum(
            dc ** (m - 1) / factorial(m - 1) * moment[m - 1] for m in range(1, TAYLOR_ORDER + 1)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            dc = dc - score / slope
    return c0 + dc
