"""Everything a report says, as a view model: the templates only lay it out.

`build_report` runs the same prediction path as `POST /v1/predictions` (`build_response`),
so a report and the API never disagree, then adds the sessions, the factor sentences,
the conversation points, the validation figures and the model card.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import markdown

from data_schemas.records import ClientHistory
from features.alliance_norms import AllianceNorms
from models.predictor import SYNTHETIC_DATA_NOTICE
from service.answers.predictions import build_response
from service.answers.schemas import PredictionResponse
from service.answers.wording import (
    BACKGROUND_NOTE,
    BAND_WORDS,
    DECISION_SUPPORT_NOTICE,
    OUTCOME_TITLES,
    SHARED_EFFECT_NOTE,
    one_in,
    percent,
)
from service.model.holder import ServedModel
from service.reports.charts import (
    WATERFALL_FACTORS,
    Chart,
    risk_gauge,
    session_chart,
    waterfall,
)
from service.reports.conversation import ConversationPoint, conversation_points
from service.reports.factors import Factor, top_factors
from service.reports.series import (
    SessionSeries,
    number,
    reliable_change_points,
    session_series,
)


def rupture_rule(norms: AllianceNorms) -> str:
    """The rupture rule in each questionnaire's own points, as this model applies it."""
    points = ", ".join(
        f"{number(round(change, 1))} points on the {code}"
        for code, change in reliable_change_points(norms).items()
    )
    return (
        "A possible rupture is a fall between two ratings on the same questionnaire larger "
        f"than its measurement error (reliable change, Jacobson & Truax 1991): {points}."
    )


@dataclass(frozen=True)
class Header:
    """Who and when the report is about, and which model answered."""

    client_id: str
    site_id: str | None
    as_of_session: int
    as_of_date: dt.date
    model_name: str
    model_version: str | None
    model_alias: str | None
    trained_at: str
    generated_at: dt.datetime
    request_id: str


@dataclass(frozen=True)
class RiskView:
    """One outcome's estimate in words, numbers, band and position among other clients."""

    outcome: str
    title: str
    percent: str
    one_in: str
    band: str
    band_word: str
    percentile: str
    band_definition: str
    moderate_from: str
    high_from: str
    gauge: Chart


@dataclass(frozen=True)
class MetricView:
    """How well one outcome's model did on held-out clients, in plain terms."""

    title: str
    auroc: str
    ece: str


@dataclass(frozen=True)
class TitledChart:
    """A chart under its own heading."""

    title: str
    chart: Chart


@dataclass(frozen=True)
class ReportContent:
    """The whole report, top to bottom."""

    title: str
    header: Header
    prediction: PredictionResponse
    synthetic_notice: str | None
    decision_notice: str
    warnings: list[str]
    risks: list[RiskView]
    withheld: list[tuple[str, str]]  # (outcome title, why it has no estimate)
    series: SessionSeries
    session_chart: Chart
    rupture_rule: str
    background_note: str
    #: Said under the waterfalls when one of their bars runs against the evidence.
    shared_effect_note: str | None
    factors: dict[str, list[Factor]]
    conversation: list[ConversationPoint]
    metrics: list[MetricView]
    n_test_clients: int | None
    waterfalls: list[TitledChart]
    model_card_html: str


def _interval(value: dict[str, float], scale: float = 1.0, digits: int = 2) -> str:
    def fmt(x: float) -> str:
        return f"{x * scale:.{digits}f}"

    return f"{fmt(value['value'])} ({fmt(value['lower'])} to {fmt(value['upper'])})"


def _metrics(headline: dict[str, Any]) -> list[MetricView]:
    return [
        MetricView(
            title=OUTCOME_TITLES.get(outcome, outcome),
            auroc=_interval(m["auroc"]),
            ece=_interval(m["ece"], scale=100.0, digits=1),
        )
        for outcome, m in headline.items()
        if {"auroc", "ece"} <= m.keys()
    ]


def model_card_html(markdown_text: str) -> str:
    """The model card as HTML, its headings moved down two levels to sit under the report's."""
    if not markdown_text.strip():
        return ""
    html = markdown.markdown(markdown_text, extensions=["tables"])
    return re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m[1]}h{min(int(m[2]) + 2, 6)}", html)


def _risks(answer: PredictionResponse) -> list[RiskView]:
    risks = []
    for outcome, result in answer.predictions.items():
        thresholds = result.band_thresholds
        title = OUTCOME_TITLES[outcome]
        risks.append(
            RiskView(
                outcome=outcome,
                title=title,
                percent=percent(result.probability),
                one_in=one_in(result.probability),
                band=result.band,
                band_word=BAND_WORDS[result.band],
                percentile=(
                    f"Higher than the estimate for {result.percentile:.0f}% of clients "
                    f"after session {answer.as_of_session}"
                ),
                band_definition=result.band_definition,
                moderate_from=percent(thresholds["moderate"]),
                high_from=percent(thresholds["high"]),
                gauge=risk_gauge(
                    outcome,
                    result.probability,
                    thresholds["moderate"],
                    thresholds["high"],
                    title,
                ),
            )
        )
    return risks


def _any_shown_against_evidence(answer: PredictionResponse) -> bool:
    """Whether a waterfall shows a bar marked (*), which then needs its note."""
    return any(
        c.evidence == "contradicts"
        for result in answer.predictions.values()
        for c in result.explanation.contributions[:WATERFALL_FACTORS]
    )


def build_report(
    served: ServedModel,
    history: ClientHistory,
    *,
    request_id: str,
    generated_at: dt.datetime | None = None,
) -> ReportContent:
    """Predict for the history and gather everything the report shows.

    Raises `NotPredictableError` (from the predictor) when the history cannot be predicted.
    """
    prediction = served.predictor.predict_history(history)
    answer = build_response(served, prediction, request_id)
    norms = served.predictor.features.alliance_norms_
    series = session_series(history, answer.as_of_session, norms)
    factors = {
        outcome: top_factors(outcome, result.explanation.contributions, series)
        for outcome, result in answer.predictions.items()
    }
    metadata = served.predictor.metadata
    client = history.client
    k = answer.as_of_session
    header = Header(
        client_id=client.client_id,
        site_id=client.site_id,
        as_of_session=k,
        as_of_date=history.sessions[k - 1].session_date,
        model_name=served.name,
        model_version=served.version,
        model_alias=served.alias,
        trained_at=metadata.trained_at,
        generated_at=generated_at or dt.datetime.now(dt.UTC),
        request_id=request_id,
    )
    waterfalls = [
        TitledChart(
            OUTCOME_TITLES[outcome],
            waterfall(
                outcome,
                OUTCOME_TITLES[outcome],
                result.explanation.base_value,
                result.explanation.logit,
                result.explanation.contributions,
            ),
        )
        for outcome, result in answer.predictions.items()
    ]
    return ReportContent(
        title=f"Early-session risk report: client {client.client_id} after session {k}",
        header=header,
        prediction=answer,
        synthetic_notice=SYNTHETIC_DATA_NOTICE if metadata.synthetic_data else None,
        decision_notice=DECISION_SUPPORT_NOTICE,
        warnings=list(answer.warnings),
        risks=_risks(answer),
        withheld=[(OUTCOME_TITLES[o], reason) for o, reason in answer.withheld.items()],
        series=series,
        session_chart=session_chart(series),
        rupture_rule=rupture_rule(norms),
        background_note=BACKGROUND_NOTE,
        shared_effect_note=SHARED_EFFECT_NOTE if _any_shown_against_evidence(answer) else None,
        factors=factors,
        conversation=conversation_points(
            [f for outcome_factors in factors.values() for f in outcome_factors], series
        ),
        metrics=_metrics(metadata.headline_metrics),
        n_test_clients=metadata.training_summary.get("n_test_clients"),
        waterfalls=waterfalls,
        model_card_html=model_card_html(metadata.model_card_markdown),
    )
