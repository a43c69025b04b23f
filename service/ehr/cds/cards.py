"""The CDS card: both risks in one sentence, the details in Markdown, a link to the report.

The link opens the clinician report for this client and this estimate in a browser, for
a short while (`service.reports.links`); its label says so and names no one.

The indicator follows the higher of the two bands (low -> info, moderate -> warning,
high -> critical), the specification's three levels of urgency. A model trained on
synthetic data says so first, in the summary itself, because a client may show only the
summary.
"""

from __future__ import annotations

import uuid

from service.answers.schemas import PredictionResponse
from service.answers.wording import OUTCOME_TITLES, one_in, percent
from service.ehr.cds.hooks import SUMMARY_MAX_CHARS, Card, Indicator, Link, Source
from service.ehr.fhir import factor_sentence, model_text, top_factors

INDICATOR_OF_BAND: dict[str, Indicator] = {
    "low": "info",
    "moderate": "warning",
    "high": "critical",
}
_BAND_RANK = {"low": 0, "moderate": 1, "high": 2}
SYNTHETIC_PREFIX = "TEST MODEL (synthetic data): "


def indicator(answer: PredictionResponse) -> Indicator:
    band = max((r.band for r in answer.predictions.values()), key=_BAND_RANK.__getitem__)
    return INDICATOR_OF_BAND[band]


#: How the summary names an outcome with no estimate (the detail says why).
NOT_ESTIMATED = "not estimated"


def _risk(answer: PredictionResponse, outcome: str) -> str:
    result = answer.predictions.get(outcome)
    if result is None:
        return NOT_ESTIMATED
    return f"{result.band} ({percent(result.probability)})"


def summary(answer: PredictionResponse) -> str:
    """'Dropout risk high (41%), violence risk low (2%) after session 3', under 140 chars."""
    text = (
        f"Dropout risk {_risk(answer, 'dropout')}, violence risk {_risk(answer, 'violence')} "
        f"after session {answer.as_of_session}"
    )
    if answer.model.synthetic_data:
        text = SYNTHETIC_PREFIX + text
    if len(text) > SUMMARY_MAX_CHARS:
        raise ValueError("card summary over the CDS Hooks limit of 140 characters")
    return text


def detail(answer: PredictionResponse) -> str:
    """GitHub-flavoured Markdown: a table of both risks, their top factors, notices."""
    k = answer.as_of_session
    lines = [f"**Estimated risks after session {k}** · {model_text(answer)}", ""]
    lines += [
        f"| Outcome | Estimated risk | Band | Compared with clients after session {k} |",
        "|---|---|---|---|",
    ]
    for outcome, result in answer.predictions.items():
        lines.append(
            f"| {OUTCOME_TITLES[outcome]} | {percent(result.probability)} "
            f"({one_in(result.probability)}) | {result.band} | higher than "
            f"{result.percentile:.0f}% |"
        )
    for outcome, reason in answer.withheld.items():
        lines.append(f"| {OUTCOME_TITLES[outcome]} | {NOT_ESTIMATED}: {reason} | | |")
    lines += ["", "**Of this episode so far, what drives these estimates most**", ""]
    for outcome, result in answer.predictions.items():
        lines.append(f"*{OUTCOME_TITLES[outcome]}*")
        lines += [f"- {factor_sentence(f)}" for f in top_factors(result)]
        lines.append("")
    lines += [f"- {warning}" for warning in answer.warnings]
    lines += [f"> {notice}" for notice in answer.notices]
    return "\n".join(lines).strip() + "\n"


def risk_card(answer: PredictionResponse, *, report_url: str, link_minutes: float) -> Card:
    """The card; `report_url` is the sealed link to the report, good for `link_minutes`."""
    model = answer.model
    label = f"{model.name} model version {model.version or 'unregistered'}"
    if model.synthetic_data:
        label += " (synthetic data)"
    return Card(
        uuid=str(uuid.uuid4()),
        summary=summary(answer),
        detail=detail(answer),
        indicator=indicator(answer),
        source=Source(label=label),
        links=[
            Link(
                label=f"Clinician report for this client (link valid {link_minutes:g} minutes)",
                url=report_url,
                type="absolute",
            )
        ],
    )
