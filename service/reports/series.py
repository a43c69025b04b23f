"""The sessions a report shows: alliance on its own scale, anxiety, misses and ruptures.

Falls are found between consecutive alliance ratings (sessions without a rating are
skipped) and sized in SDs of each questionnaire's usual first rating, as the
`alliance_largest_drop` feature sizes them. A fall on one questionnaire is a possible
rupture when it exceeds that questionnaire's reliable change (Jacobson & Truax 1991) in its
own points, which the model's alliance norms give.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from data_schemas.ranges import GAD7, INSTRUMENTS, PRE_SESSION_DISTRESS, Instrument
from data_schemas.records import ClientHistory
from features.alliance_norms import AllianceNorms


@dataclass(frozen=True)
class SessionPoint:
    """One scheduled session as the report shows it."""

    number: int
    date: dt.date
    attended: bool
    alliance_score: float | None
    alliance_pomp: float | None
    alliance_z: float | None  # SDs from the questionnaire's usual first rating
    instrument: str | None
    gad7: int | None
    distress: int | None


@dataclass(frozen=True)
class AllianceFall:
    """A fall from one alliance rating to the next rated session, on the report's scale.

    `z_drop` is its size in SDs (what the features compare); `is_rupture` says whether it
    exceeds the questionnaire's reliable change, which needs both ratings on one
    questionnaire with a norm.
    """

    from_session: int
    to_session: int
    from_score: float
    to_score: float
    z_drop: float
    is_rupture: bool


@dataclass(frozen=True)
class AllianceScale:
    """The axis the alliance is drawn on: one instrument's own range, or POMP when mixed."""

    minimum: float
    maximum: float
    name: str
    instrument: Instrument | None

    def value(self, point: SessionPoint) -> float | None:
        """A session's alliance on this scale; `None` when it was not rated."""
        if point.alliance_pomp is None:
            return None
        return point.alliance_score if self.instrument is not None else point.alliance_pomp


@dataclass(frozen=True)
class SessionSeries:
    """Sessions 1..k of one client, with every fall between consecutive ratings."""

    points: tuple[SessionPoint, ...]
    scale: AllianceScale
    falls: tuple[AllianceFall, ...]

    @property
    def landmark(self) -> int:
        return len(self.points)

    @property
    def missed(self) -> list[int]:
        return [p.number for p in self.points if not p.attended]

    @property
    def rated(self) -> list[SessionPoint]:
        return [p for p in self.points if p.alliance_pomp is not None]

    @property
    def standardised(self) -> list[SessionPoint]:
        """Rated sessions whose questionnaire has a norm (what the z features read)."""
        return [p for p in self.points if p.alliance_z is not None]

    @property
    def ruptures(self) -> list[AllianceFall]:
        return [fall for fall in self.falls if fall.is_rupture]

    @property
    def largest_fall(self) -> AllianceFall | None:
        """The largest fall, the first one on ties (as the feature core counts it)."""
        largest = None
        for fall in self.falls:
            if largest is None or fall.z_drop > largest.z_drop:
                largest = fall
        return largest


def _scale(points: list[SessionPoint]) -> AllianceScale:
    used = {p.instrument for p in points if p.alliance_pomp is not None}
    if len(used) == 1:
        instrument = INSTRUMENTS[used.pop()]
        return AllianceScale(
            instrument.min_score, instrument.max_score, instrument.code, instrument
        )
    name = "percent of scale maximum" + ("; questionnaires differ" if used else "")
    return AllianceScale(0.0, 100.0, name, None)


def reliable_change_points(norms: AllianceNorms) -> dict[str, float]:
    """Each normed questionnaire's reliable change in its own points (the rupture rule)."""
    found = {code: norms.reliable_change_points(code) for code in INSTRUMENTS}
    return {code: points for code, points in found.items() if points is not None}


def session_series(history: ClientHistory, landmark: int, norms: AllianceNorms) -> SessionSeries:
    """Sessions 1..`landmark` of the history, ready to chart and to describe."""
    points = []
    for session in history.sessions[:landmark]:
        pomp = z = None
        if session.alliance_score is not None and session.alliance_instrument is not None:
            instrument = INSTRUMENTS[session.alliance_instrument]
            pomp = instrument.percent_of_maximum(session.alliance_score)
            z = norms.z(session.alliance_score, instrument.code)
        points.append(
            SessionPoint(
                number=session.session_number,
                date=session.session_date,
                attended=session.attended,
                alliance_score=session.alliance_score,
                alliance_pomp=pomp,
                alliance_z=z,
                instrument=session.alliance_instrument,
                gad7=session.anxiety_gad7,
                distress=session.pre_session_distress,
            )
        )
    scale = _scale(points)
    thresholds = reliable_change_points(norms)
    standardised = [p for p in points if p.alliance_z is not None]
    falls = []
    for before, after in itertools.pairwise(standardised):
        drop = before.alliance_z - after.alliance_z
        if drop > 0:
            same = before.instrument == after.instrument
            points_drop = before.alliance_score - after.alliance_score
            falls.append(
                AllianceFall(
                    from_session=before.number,
                    to_session=after.number,
                    from_score=scale.value(before),
                    to_score=scale.value(after),
                    z_drop=drop,
                    is_rupture=same and points_drop >= thresholds[before.instrument],
                )
            )
    return SessionSeries(tuple(points), scale, tuple(falls))


def number(value: float) -> str:
    """A score as people write it: 36, 36.5."""
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"


#: Upper ends of the anxiety scales, for "15 of 21" wording and chart axes.
GAD7_MAX = int(GAD7.maximum)
DISTRESS_MAX = int(PRE_SESSION_DISTRESS.maximum)
