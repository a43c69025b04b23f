"""The largest SHAP contributions, written as sentences a clinician reads at a glance.

Every factor of this episode so far (alliance, attendance, anxiety, distress) is described
from the sessions themselves, on each questionnaire's own scale ("The alliance score fell
from 48 to 36 (WAI-SR) between sessions 2 and 3"). Each sentence ends with what the factor
does to the estimate, never with a claim about the person; only contributions that may be
named as reasons (`episode_factors`) become sentences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.answers.predictions import episode_factors
from service.answers.schemas import Contribution
from service.answers.wording import RISK_NOUNS
from service.reports.series import DISTRESS_MAX, GAD7_MAX, SessionPoint, SessionSeries, number

#: Factors shown per outcome, and the smallest contribution (in log-odds) worth a sentence:
#: 0.02 log-odds moves a 20% risk by about 0.3 percentage points.
TOP_FACTORS = 3
MIN_CONTRIBUTION = 0.02


@dataclass(frozen=True)
class Factor:
    """One reason behind one outcome's estimate."""

    outcome: str
    feature: str
    label: str
    contribution: float
    raises: bool
    sentence: str


#: Describes one factor from the sessions. Called only for contributions that may be
#: named as reasons, so a missing value reaches only features whose absence is a sign
#: (`FeatureSpec.reason_when_missing`); None: nothing to tell (no fall to recover from).
Describe = Callable[[SessionSeries, Contribution], str | None]


def _alliance(series: SessionSeries, point: SessionPoint) -> str:
    scale = series.scale
    score = number(scale.value(point))
    if scale.instrument is not None:
        return f"{score} of {number(scale.maximum)} ({scale.name}, session {point.number})"
    return f"{score}% of the scale maximum (session {point.number})"


def _largest_drop(series: SessionSeries, c: Contribution) -> str | None:
    fall = series.largest_fall
    if fall is None:
        return "The alliance score has not fallen between rated sessions so far"
    text = (
        f"The alliance score fell from {number(fall.from_score)} to {number(fall.to_score)} "
        f"({series.scale.name}) between sessions {fall.from_session} and {fall.to_session}"
    )
    return text + (", a possible rupture" if fall.is_rupture else "")


def _recovery(series: SessionSeries, c: Contribution) -> str | None:
    fall = series.largest_fall
    if fall is None:
        return None
    after = [p for p in series.standardised if p.number >= fall.to_session]
    lowest = min(after, key=lambda p: p.alliance_z)
    regained = series.scale.value(after[-1]) - series.scale.value(lowest)
    if regained <= 0:
        return f"The alliance has not recovered since it fell after session {fall.from_session}"
    return (
        f"The alliance has regained {number(round(regained, 1))} points since it fell after "
        f"session {fall.from_session}"
    )


def _lowest(series: SessionSeries) -> SessionPoint:
    """The lowest rating as the feature finds it: in SDs when the questionnaires have norms."""
    if series.standardised:
        return min(series.standardised, key=lambda p: p.alliance_z)
    return min(series.rated, key=lambda p: p.alliance_pomp)


def _rating(which: str) -> Describe:
    def describe(series: SessionSeries, c: Contribution) -> str | None:
        rated = series.rated
        if not rated:
            return "No alliance rating has been recorded yet"
        point = {
            "first": rated[0],
            "latest": rated[-1],
            "lowest": _lowest(series),
        }[which]
        return f"The {which} alliance score was {_alliance(series, point)}"

    return describe


def _on_scale(series: SessionSeries) -> list[tuple[int, float]]:
    """(session, alliance on the report's scale) of every rated session."""
    return [(p.number, series.scale.value(p)) for p in series.rated]


def _mean_alliance(series: SessionSeries, c: Contribution) -> str | None:
    if c.value is None:
        return "No alliance rating has been recorded yet"
    scale = series.scale
    values = [value for _, value in _on_scale(series)]
    mean = sum(values) / len(values)
    suffix = f" of {number(scale.maximum)} ({scale.name})" if scale.instrument else "%"
    return f"The alliance scores average {number(round(mean, 1))}{suffix}"


def _slope(series: SessionSeries, c: Contribution) -> str | None:
    rated = _on_scale(series)
    sessions = [n for n, _ in rated]
    values = [v for _, v in rated]
    mean_n, mean_v = sum(sessions) / len(sessions), sum(values) / len(values)
    per_session = sum((n - mean_n) * (v - mean_v) for n, v in rated) / sum(
        (n - mean_n) ** 2 for n in sessions
    )
    if abs(per_session) < 0.05:
        return "The alliance score has stayed level"
    verb = "risen" if per_session > 0 else "fallen"
    return (
        f"The alliance score has {verb} by about {number(round(abs(per_session), 1))} "
        f"points per session ({series.scale.name})"
    )


def _reliable_fall(series: SessionSeries, c: Contribution) -> str | None:
    ruptures = series.ruptures
    if not ruptures:
        return (
            "No fall between two alliance ratings was larger than its questionnaire's "
            "measurement error"
        )
    fall = max(ruptures, key=lambda f: f.z_drop)
    return (
        f"The alliance score fell from {number(fall.from_score)} to {number(fall.to_score)} "
        f"({series.scale.name}) between sessions {fall.from_session} and {fall.to_session}, "
        "more than the questionnaire's measurement error: a possible rupture"
    )


def _alert(series: SessionSeries, c: Contribution) -> str | None:
    latest = series.rated[-1]
    side = "at or below" if c.value else "above"
    return (
        f"The latest SRS total was {number(latest.alliance_score)}, {side} the PCOMS cut-off "
        "of 36 for a possible alliance problem"
    )


def _missed(series: SessionSeries, c: Contribution) -> str | None:
    missed = series.missed
    if not missed:
        return f"The client has attended all {series.landmark} sessions so far"
    sessions = ", ".join(str(n) for n in missed)
    return (
        f"The client missed {len(missed)} of {series.landmark} sessions so far "
        f"(session{'s' if len(missed) > 1 else ''} {sessions})"
    )


def _latest_missed(series: SessionSeries, c: Contribution) -> str | None:
    verb = "attended" if series.points[-1].attended else "did not attend"
    return f"The client {verb} the latest session (session {series.landmark})"


def _score(name: str, maximum: int, when: str) -> Describe:
    def describe(series: SessionSeries, c: Contribution) -> str | None:
        return f"The {when} {name} was {number(round(c.value, 1))} of {maximum}"

    return describe


def _gad7_change(series: SessionSeries, c: Contribution) -> str | None:
    if c.value == 0:
        return "The GAD-7 anxiety score has not changed since the first score"
    verb = "risen" if c.value > 0 else "fallen"
    points = abs(int(c.value))
    plural = "s" if points != 1 else ""
    return f"The GAD-7 anxiety score has {verb} by {points} point{plural} since the first score"


def _days(series: SessionSeries, c: Contribution) -> str | None:
    return f"{int(c.value)} days have passed from intake to session {series.landmark}"


_DESCRIBE: dict[str, Describe] = {
    "alliance_largest_drop": _largest_drop,
    "alliance_recovery_since_drop": _recovery,
    "alliance_z_first": _rating("first"),
    "alliance_z_last": _rating("latest"),
    "alliance_z_min": _rating("lowest"),
    "alliance_z_mean": _mean_alliance,
    "alliance_z_slope": _slope,
    "alliance_reliable_fall": _reliable_fall,
    "alliance_alert": _alert,
    "missed_sessions": _missed,
    "latest_session_missed": _latest_missed,
    "days_since_intake": _days,
    "gad7_first": _score("GAD-7 anxiety score", GAD7_MAX, "first"),
    "gad7_last": _score("GAD-7 anxiety score", GAD7_MAX, "latest"),
    "gad7_change": _gad7_change,
    "pre_session_distress_first": _score("distress before a session", DISTRESS_MAX, "first"),
    "pre_session_distress_last": _score("distress before a session", DISTRESS_MAX, "latest"),
    "pre_session_distress_mean": _score("distress before sessions", DISTRESS_MAX, "average"),
}
#: The features the report describes in sentences of their own.
DESCRIBED = frozenset(_DESCRIBE)


def observation(series: SessionSeries, c: Contribution) -> str | None:
    """What was seen, without its effect: the first half of a factor sentence. None when
    there is nothing to tell a clinician (a change from a single score). Every factor of
    this episode so far has its own description (`DESCRIBED`)."""
    return _DESCRIBE[c.feature](series, c)


def top_factors(
    outcome: str,
    contributions: list[Contribution],
    series: SessionSeries,
    *,
    limit: int = TOP_FACTORS,
) -> list[Factor]:
    """The largest contributions of this episode so far (already sorted by size) that the
    evidence allows (`episode_factors`), as sentences; background factors and
    contributions against the evidence are left to the waterfall."""
    factors = []
    for c in episode_factors(contributions):
        if len(factors) == limit or abs(c.contribution) < MIN_CONTRIBUTION:
            break
        seen = observation(series, c)
        if seen is None:
            continue
        raises = c.contribution > 0
        verb = "raises" if raises else "lowers"
        factors.append(
            Factor(
                outcome=outcome,
                feature=c.feature,
                label=c.label,
                contribution=c.contribution,
                raises=raises,
                sentence=f"{seen}; this {verb} the estimated {RISK_NOUNS[outcome]}.",
            )
        )
    return factors
