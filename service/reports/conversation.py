"""Conversation points: options a clinician could take up next session, tied to factors.

Each topic names the factors that bring it up and the literature behind it. A topic is
offered only when one of its factors raises an estimate (or, for repair, when a rupture
is visible in the sessions); it is worded as an option, never as an instruction, and
never as a finding about the person. Only factors of this episode so far bring a topic up:
background (age, sex, setting, therapist) is not something to talk a client out of.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.labels import OUTCOMES
from service.reports.factors import Factor
from service.reports.series import SessionSeries

#: At most this many points, so the page stays readable in a minute.
MAX_POINTS = 3
#: Preparing clients for therapy and following up missed sessions are studied as ways to
#: prevent early endings, not violence: a violence factor does not bring them up.
_DROPOUT = frozenset({"dropout"})

_ALLIANCE_LEVEL = frozenset(
    {
        "alliance_z_first",
        "alliance_z_last",
        "alliance_z_mean",
        "alliance_z_min",
        "alliance_z_slope",
        "alliance_alert",
    }
)
_ANXIETY = frozenset(
    {
        "gad7_first",
        "gad7_last",
        "gad7_change",
        "pre_session_distress_first",
        "pre_session_distress_last",
        "pre_session_distress_mean",
    }
)


@dataclass(frozen=True)
class Topic:
    """Something to talk about, the factors that bring it up, why it may help, and the
    outcomes its source speaks to: a factor brings a topic up only for those."""

    key: str
    features: frozenset[str]
    text: str
    source: str
    outcomes: frozenset[str] = frozenset(OUTCOMES)


TOPICS: tuple[Topic, ...] = (
    Topic(
        "repair",
        frozenset(
            {"alliance_largest_drop", "alliance_recovery_since_drop", "alliance_reliable_fall"}
        ),
        "You could name the recent fall in the alliance with the client, invite their view "
        "of what felt unhelpful and acknowledge your own part in it; repaired ruptures tend "
        "to be followed by better outcomes.",
        "Safran & Muran 2000; Eubanks, Muran & Safran 2018",
    ),
    Topic(
        "goals",
        _ALLIANCE_LEVEL,
        "You could revisit the goals you agreed on and the tasks of therapy, and check "
        "together that they still fit what the client wants from it.",
        "Bordin 1979 (goals, tasks and bond); Flückiger et al. 2018",
    ),
    Topic(
        "attendance",
        frozenset({"missed_sessions", "latest_session_missed", "days_since_intake"}),
        "You could ask what makes it hard to come to sessions and agree how you will stay "
        "in touch after a missed appointment.",
        "Swift & Greenberg 2015",
        _DROPOUT,
    ),
    Topic(
        "anxiety",
        _ANXIETY,
        "You could talk through how the first sessions have felt and what usually happens "
        "next in therapy; preparing clients for what therapy involves is linked to fewer "
        "early endings.",
        "Swift et al. 2012",
        _DROPOUT,
    ),
)

_BY_KEY: dict[str, Topic] = {topic.key: topic for topic in TOPICS}

#: Offered when no factor brings up a topic, so the section is never empty.
OPEN_QUESTION = Topic(
    "open",
    frozenset(),
    "You could ask the client how therapy is going for them so far, and whether the goals "
    "and the way you work together fit.",
    "Bordin 1979; Flückiger et al. 2018",
)


@dataclass(frozen=True)
class ConversationPoint:
    """One option for the next session, with the factors it answers to."""

    text: str
    source: str
    because: tuple[str, ...]


def conversation_points(factors: list[Factor], series: SessionSeries) -> list[ConversationPoint]:
    """Topics brought up by factors that raise an estimate, strongest factor first."""
    raising = sorted((f for f in factors if f.raises), key=lambda f: -f.contribution)
    reasons: dict[str, list[str]] = {}
    for factor in raising:
        for topic in TOPICS:
            if factor.feature in topic.features and factor.outcome in topic.outcomes:
                labels = reasons.setdefault(topic.key, [])
                if factor.label not in labels:
                    labels.append(factor.label)
    for fall in series.ruptures:
        reasons.setdefault("repair", []).append(
            f"alliance fell between sessions {fall.from_session} and {fall.to_session}"
        )
    points = [
        ConversationPoint(_BY_KEY[key].text, _BY_KEY[key].source, tuple(because))
        for key, because in reasons.items()
    ]
    if not points:
        points.append(ConversationPoint(OPEN_QUESTION.text, OPEN_QUESTION.source, ()))
    return points[:MAX_POINTS]
