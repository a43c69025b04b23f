"""Figures logged with each training run: ROC curves, calibration curves, SHAP beeswarms.

Colours come from the Okabe-Ito palette (Okabe & Ito 2008), which stays distinguishable
for the common forms of colour-vision deficiency; lines also differ in style.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from training.decision_curves import TREAT_ALL, TREAT_NONE
from training.held_out import BEESWARM_ROWS, plot_rows

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
LINE_STYLES = ("-", "--", ":", "-.")
#: How the reference strategies of a decision curve are drawn: thin, grey and black.
DEFAULT_STRATEGIES: dict[str, dict[str, object]] = {
    TREAT_ALL: {"color": "grey", "linestyle": "--", "linewidth": 0.9},
    TREAT_NONE: {"color": "black", "linestyle": "-", "linewidth": 0.6},
}


def roc_figure(y: np.ndarray, scores: dict[str, np.ndarray], title: str, path: Path) -> Path:
    """ROC curves of the model and its baselines on the same test rows."""
    figure, axis = plt.subplots(figsize=(5, 5))
    for i, (name, p) in enumerate(scores.items()):
        fpr, tpr, _ = roc_curve(y, p)
        axis.plot(fpr, tpr, color=OKABE_ITO[i % 6], linestyle=LINE_STYLES[i % 4], label=name)
    axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    axis.set(xlabel="1 - specificity", ylabel="Sensitivity", title=title)
    axis.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def calibration_figure(
    y: np.ndarray, scores: dict[str, np.ndarray], title: str, path: Path
) -> Path:
    """Observed against predicted risk in ten equal-frequency bins."""
    figure, axis = plt.subplots(figsize=(5, 5))
    top = 0.0
    for i, (name, p) in enumerate(scores.items()):
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        top = max(top, observed.max(), predicted.max())
        axis.plot(
            predicted,
            observed,
            marker="o",
            color=OKABE_ITO[i % 6],
            linestyle=LINE_STYLES[i % 4],
            label=name,
        )
    axis.plot([0, top], [0, top], color="grey", linewidth=0.8)
    axis.set(xlabel="Predicted risk", ylabel="Observed rate", title=title)
    axis.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def beeswarm_figure(
    contributions: np.ndarray,
    features: pd.DataFrame,
    title: str,
    path: Path,
    *,
    max_rows: int = BEESWARM_ROWS,
    of_rows: int | None = None,
) -> Path:
    """SHAP summary (beeswarm) of calibrated log-odds contributions on the test rows.

    Beyond `max_rows` a seeded random sample is drawn, and the title says so: more dots
    only overplot, while drawing a million of them took minutes. `of_rows` is how many
    test rows there were when `features` is already such a sample of them.
    """
    of_rows = max(of_rows or 0, len(features))
    rows = plot_rows(len(features), max_rows, seed=0)
    contributions, features = contributions[rows], features.iloc[rows]
    if len(features) < of_rows:
        title = f"{title}\n(random {len(features):,} of {of_rows:,} test rows)"
    shap.summary_plot(contributions, features, show=False, max_display=15, plot_size=(7, 6))
    figure = plt.gcf()
    figure.suptitle(title)
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def decision_curve_figure(curves: pd.DataFrame, title: str, path: Path) -> Path:
    """Net benefit against threshold probability: all landmarks, then each landmark."""
    panels = list(dict.fromkeys(curves["landmark"]))
    columns = 3
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(12, 3.6 * rows), squeeze=False)
    for axis, landmark in zip(axes.ravel(), panels, strict=False):
        panel = curves[curves["landmark"] == landmark]
        # No strategy beats the prevalence, which treating all nearly reaches at 1%.
        treat_all = panel[panel["strategy"] == TREAT_ALL]
        ceiling = max(float(treat_all["net_benefit"].iloc[0]) if len(treat_all) else 0.0, 0.01)
        for i, (strategy, line) in enumerate(panel.groupby("strategy", sort=False)):
            style = DEFAULT_STRATEGIES.get(
                strategy, {"color": OKABE_ITO[i % 6], "linestyle": LINE_STYLES[i % 4]}
            )
            axis.plot(line["threshold"], line["net_benefit"], label=strategy, **style)
        axis.set_ylim(-0.1 * ceiling, 1.1 * ceiling)
        session = "all sessions" if landmark == "all" else f"after session {landmark}"
        axis.set(xlabel="Threshold probability", ylabel="Net benefit", title=session)
    for axis in axes.ravel()[len(panels) :]:
        axis.set_visible(False)
    axes[0, 0].legend(loc="upper right", fontsize=7)
    figure.suptitle(title)
    return _save(figure, path)
