"""The monitoring report: a self-contained HTML page with plots, and a JSON summary.

The page follows the clinician report's house style (DejaVu Sans, black on white, the
Okabe-Ito palette with meaning carried by position and text, charts as inline SVG), so
it opens anywhere without a network and prints.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.figure import Figure

from models.predictor import SYNTHETIC_DATA_NOTICE
from training.monitoring.drift import JS_ALARM, PSI_ALARM, PSI_WARN, Drift
from training.monitoring.performance import AUROC_DROP_LIMIT, CALIBRATION_LIMITS
from training.monitoring.run import Monitoring

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
BLUE, VERMILLION, GREY = "#0072B2", "#D55E00", "#8f8f8f"
#: Features shown in the drift chart (every feature is in the table below it).
CHART_FEATURES = 15


def _clean(value: Any) -> Any:
    """JSON without NaN (null instead) and with plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def summary(result: Monitoring) -> dict[str, Any]:
    """What a scheduler or dashboard reads: alarms first, then every figure."""
    return _clean(
        {
            "model_uri": result.model_uri,
            "model_version": result.model_version,
            "synthetic_model": result.synthetic_model,
            "since": result.since.isoformat() if result.since else None,
            "rows": result.n_rows,
            "clients": result.n_clients,
            "alarm": bool(result.alarms),
            "alarms": result.alarms,
            "notes": result.notes,
            "thresholds": {
                "psi_warn": PSI_WARN,
                "psi_alarm": PSI_ALARM,
                "jensen_shannon_alarm": JS_ALARM,
                "calibration_limits": list(CALIBRATION_LIMITS),
                "auroc_drop_limit": AUROC_DROP_LIMIT,
            },
            "feature_drift": [asdict(d) for d in result.feature_drift],
            "probability_drift": [asdict(d) for d in result.probability_drift],
            "expected_auroc": result.expected_auroc,
            "performance": {
                outcome: {
                    "figures": p.figures,
                    "subgroups": p.subgroups.reset_index().to_dict("records"),
                }
                for outcome, p in result.performance.items()
            },
            "released_estimates": (
                result.released.to_dict("records") if result.released is not None else None
            ),
        }
    )


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()[buffer.getvalue().index("<svg") :]


def _share_of_alarm(drift: Drift) -> float:
    return drift.value / (PSI_ALARM if drift.statistic == "PSI" else JS_ALARM)


def drift_chart(drifts: list[Drift]) -> str:
    """The largest drifts as bars, each as a share of its own statistic's alarm threshold;
    bars at the alarm are hatched as well as coloured, so greyscale keeps the meaning."""
    shown = sorted(drifts, key=_share_of_alarm)[-CHART_FEATURES:]
    scaled = [_share_of_alarm(d) for d in shown]
    figure = Figure(figsize=(7.0, 0.28 * len(shown) + 0.8))
    axes = figure.add_subplot()
    bars = axes.barh([d.label for d in shown], scaled, color=BLUE)
    for bar, share in zip(bars, scaled, strict=True):
        if share >= 1:
            bar.set_color(VERMILLION)
            bar.set_hatch("//")
    axes.axvline(1.0, color="#000000", linestyle="--", linewidth=1)
    axes.set_xlabel(
        f"drift as a share of its alarm threshold (PSI {PSI_ALARM}; Jensen-Shannon {JS_ALARM})"
    )
    axes.tick_params(labelsize=7)
    return _svg(figure)


def calibration_chart(result: Monitoring) -> str | None:
    """Observed/expected ratio with its interval, per outcome and session."""
    points = [
        (f"{outcome}, session {k}", at["observed_expected"])
        for outcome, performance in result.performance.items()
        for k, at in performance.figures["by_landmark"].items()
    ]
    if not points:
        return None
    figure = Figure(figsize=(7.0, 0.28 * len(points) + 0.8))
    axes = figure.add_subplot()
    for row, (_, estimate) in enumerate(points):
        axes.plot([estimate["lower"], estimate["upper"]], [row, row], color="#000000")
        axes.plot([estimate["value"]], [row], marker="o", color=BLUE)
    axes.set_yticks(range(len(points)), [label for label, _ in points], fontsize=7)
    low, high = CALIBRATION_LIMITS
    axes.axvspan(low, high, color="#f2f2f2", zorder=0)
    axes.axvline(1.0, color=GREY, linestyle="--", linewidth=1)
    axes.set_xlabel("observed / expected (1 = as many outcomes as estimated; grey: limits)")
    return _svg(figure)


def released_chart(result: Monitoring) -> str | None:
    """Mean released estimate per week and outcome, all callers and versions together."""
    released = result.released
    if released is None or released.empty:
        return None
    figure = Figure(figsize=(7.0, 2.6))
    axes = figure.add_subplot()
    for (outcome, rows), (colour, marker) in zip(
        released.groupby("outcome"), [(BLUE, "o"), (VERMILLION, "s")], strict=False
    ):
        weekly = rows.groupby("week").apply(
            lambda g: np.average(g["mean"], weights=g["estimates"]), include_groups=False
        )
        axes.plot(weekly.index, weekly.to_numpy(), marker=marker, color=colour, label=outcome)
    axes.set_ylabel("mean estimate")
    axes.legend(fontsize=7)
    axes.tick_params(labelsize=7)
    return _svg(figure)


def write_report(result: Monitoring, out: Path) -> Path:
    """The HTML page at `out` and the JSON summary beside it (same name, `.json`)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    page = environment.get_template("monitoring_report.html.j2").render(
        result=result,
        alarms=result.alarms,
        notice=SYNTHETIC_DATA_NOTICE if result.synthetic_model else None,
        drift_svg=drift_chart(result.feature_drift) if result.feature_drift else None,
        calibration_svg=calibration_chart(result),
        released_svg=released_chart(result),
        limits=CALIBRATION_LIMITS,
        auroc_drop=AUROC_DROP_LIMIT,
        psi_warn=PSI_WARN,
        psi_alarm=PSI_ALARM,
        js_alarm=JS_ALARM,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(summary(result), indent=2), encoding="utf-8")
    return json_path
