"""Render the model card (Markdown and HTML) from a fitted model's evaluation.

The card follows the TRIPOD+AI statement (Collins et al. 2024, BMJ 385:e078378): every
item is reported, marked not applicable with the reason, or marked for the deploying
organisation to complete; its last section maps each item to where it is reported.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import jinja2
import markdown

from features.registry import FEATURE_NAMES, feature
from training.baselines import BASELINE_ROWS
from training.boosting import BoosterParameters
from training.fitting import FittedModel
from training.sample_size import MIN_EVENTS_PER_PARAMETER

#: Thresholds at which the card tabulates net benefit (the plot and CSV have 1% to 50%).
CARD_THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)

TEMPLATES = Path(__file__).parent / "templates"


def _estimate(value: dict[str, float]) -> str:
    return f"{value['value']:.3f} ({value['lower']:.3f}-{value['upper']:.3f})"


def _interval(row: dict[str, Any], name: str) -> str:
    """A subgroup metric with its interval, as `_estimate` writes it."""
    return _estimate(
        {"value": row[name], "lower": row[f"{name}_lower"], "upper": row[f"{name}_upper"]}
    )


def _decision_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Net benefit per strategy at the card's thresholds, from the pooled curves."""
    thresholds = summary["thresholds"]
    return [
        {
            "threshold": t,
            **{
                name: values[thresholds.index(t)] for name, values in summary["net_benefit"].items()
            },
        }
        for t in CARD_THRESHOLDS
        if t in thresholds
    ]


def render_model_card(
    fitted: FittedModel,
    *,
    name: str,
    version: str | None,
    n_boot: int,
    parameters: dict[str, BoosterParameters] | None = None,
    tune_trials: int = 0,
) -> str:
    """The model card as Markdown; `parameters` are the booster settings per outcome."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    environment.filters["est"] = _estimate
    environment.filters["interval"] = _interval
    model = fitted.model
    evaluations: dict[str, Any] = {}
    for outcome, evaluation in fitted.evaluations.items():
        rows = evaluation.subgroups.reset_index().to_dict("records")
        evaluations[outcome] = {
            "metrics": evaluation.metrics,
            "baselines": evaluation.baselines,
            "oracle": evaluation.oracle,
            "subgroup_rows": rows,
            "decision": evaluation.decision_summary,
            "decision_rows": _decision_rows(evaluation.decision_summary),
            "n_trees": evaluation.n_trees,
        }
    return environment.get_template("model_card.md.j2").render(
        name=name,
        version=version,
        synthetic=model.metadata.synthetic_data,
        trained_at=model.metadata.trained_at,
        summary=model.metadata.training_summary,
        max_landmark=max(model.landmarks),
        features=[feature(name) for name in model.feature_names],
        excluded=[feature(name) for name in FEATURE_NAMES if name not in model.feature_names],
        bands_rule=bands_rule(fitted),
        headline=model.metadata.headline_metrics,
        evaluations=evaluations,
        n_boot=n_boot,
        baseline_rows=BASELINE_ROWS,
        definitions=fitted.definitions,
        flow=fitted.flow.to_dict("records"),
        characteristics=fitted.characteristics,
        missing=fitted.evaluations["dropout"].test_missing,
        sample_size=fitted.sample_size,
        min_events_per_parameter=MIN_EVENTS_PER_PARAMETER,
        parameters={outcome: asdict(values) for outcome, values in (parameters or {}).items()},
        parameter_names=[field.name for field in fields(BoosterParameters)] if parameters else [],
        tune_trials=tune_trials,
        feature_parameters=model.features.get_params(),
        bootstrap_cluster=fitted.bootstrap_cluster.value,
        subgroup_min_events=fitted.subgroup_min_events,
    )


def bands_rule(fitted: FittedModel) -> str:
    """How the bands were set, with each outcome's cut-offs per session."""
    lines = []
    for outcome, model in fitted.model.outcomes.items():
        cuts = "; ".join(
            f"session {k}: moderate from {t.moderate:.1%}, high from {t.high:.1%}"
            for k, t in model.thresholds.by_landmark.items()
        )
        lines.append(f"- **{outcome}:** {cuts}")
    return "\n".join(lines)


def markdown_to_html(text: str, title: str) -> str:
    """A self-contained HTML page of the card, readable without the MLflow UI."""
    body = markdown.markdown(text, extensions=["tables"])
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;"
        "line-height:1.4}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
        "blockquote{border-left:4px solid #000;margin:0;padding:0.5em 1em;background:#f2f2f2}"
        f"</style></head><body>{body}</body></html>"
    )
