"""Decision curves: net benefit as Vickers & Elkin (2006) define it, for every strategy."""

from __future__ import annotations

import numpy as np
import pytest

from training.decision_curves import (
    THRESHOLDS,
    TREAT_ALL,
    TREAT_NONE,
    decision_curves,
    net_benefit,
    treat_all,
    useful_range,
)


def test_net_benefit_counts_true_and_false_positives_at_the_threshold() -> None:
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0], dtype=float)
    p = np.array([0.9, 0.4, 0.4, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.01])
    # At 20%: treated are the rows at 0.2 or above: 2 true and 3 false positives of 10.
    expected = 2 / 10 - 3 / 10 * 0.2 / 0.8
    assert net_benefit(y, p, np.array([0.2]))[0] == pytest.approx(expected)


def test_treat_all_is_prevalence_minus_weighted_non_events() -> None:
    y = np.array([1, 0, 0, 0], dtype=float)
    assert treat_all(y, np.array([0.1]))[0] == pytest.approx(0.25 - 0.75 * 0.1 / 0.9)


def test_curves_cover_every_strategy_landmark_and_threshold() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 8, 2000)
    y = (rng.random(2000) < p).astype(float)
    landmarks = rng.integers(1, 6, 2000)
    curves = decision_curves(y, {"model": p, "noise": rng.random(2000)}, landmarks)
    assert set(curves["strategy"]) == {"model", "noise", TREAT_ALL, TREAT_NONE}
    assert set(curves["landmark"]) == {"all", "1", "2", "3", "4", "5"}
    assert len(curves) == 6 * 4 * len(THRESHOLDS)
    assert (curves.loc[curves["strategy"] == TREAT_NONE, "net_benefit"] == 0).all()
    assert useful_range(curves, "model") is not None
    assert THRESHOLDS[0] == 0.01
    assert THRESHOLDS[-1] == 0.5
