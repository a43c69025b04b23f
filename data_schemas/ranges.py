"""The one registry of allowed values and ranges in the clinic data contract.

Table schemas (`data_schemas.tables`), single-record models (`data_schemas.records`),
the synthetic cohort and the feature builder all read their limits from here, so a
range is changed in exactly one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"
    OTHER = "X"
    UNKNOWN = "U"


class PrimaryProblem(StrEnum):
    ANXIETY = "anxiety"
    DEPRESSION = "depression"
    TRAUMA = "trauma"
    PERSONALITY = "personality"
    PSYCHOSIS = "psychosis"
    SUBSTANCE = "substance"
    OTHER = "other"


class Setting(StrEnum):
    OUTPATIENT = "outpatient"
    INPATIENT = "inpatient"
    DAY_CLINIC = "day_clinic"


class Profession(StrEnum):
    PSYCHOLOGIST = "psychologist"
    PSYCHIATRIST = "psychiatrist"
    COUNSELOR = "counselor"
    SOCIAL_WORKER = "social_worker"
    TRAINEE = "trainee"
    OTHER = "other"


class Orientation(StrEnum):
    CBT = "cbt"
    PSYCHODYNAMIC = "psychodynamic"
    HUMANISTIC = "humanistic"
    SYSTEMIC = "systemic"
    INTEGRATIVE = "integrative"
    OTHER = "other"


class EpisodeEndReason(StrEnum):
    """How an episode ended, as the clinic recorded it.

    `dropout` is the premature-dropout outcome: the client stopped attending without
    agreement, before the planned end (Swift & Greenberg 2012, J Consult Clin Psychol
    80(4)). The other endings compete with it: they end the episode without a dropout.
    """

    COMPLETED = "completed"  # a planned or agreed ending
    DROPOUT = "dropout"
    TRANSFERRED = "transferred"  # referred elsewhere, or moved
    OTHER = "other"


class AllianceRater(StrEnum):
    CLIENT = "client"
    THERAPIST = "therapist"


@dataclass(frozen=True)
class Instrument:
    """An alliance questionnaire: the range of its total score, how reliable the total is,
    and the published cut-off below which it flags a possible alliance problem, if any."""

    code: str
    name: str
    min_score: int
    max_score: int
    citation: str
    reliability: float
    reliability_source: str
    alert_at_or_below: float | None = None
    alert_source: str = ""

    def reliable_change(self, sd: float) -> float:
        """The smallest change between two totals beyond measurement error, in score points.

        Jacobson & Truax (1991), J Consult Clin Psychol 59(1): 12-19: a change is reliable
        when it exceeds 1.96 standard errors of the difference, sqrt(2) * SD * sqrt(1 - r),
        with SD the spread of totals among clients and r the total's reliability.
        """
        return 1.96 * math.sqrt(2.0) * sd * math.sqrt(1.0 - self.reliability)

    def percent_of_maximum(self, score: float) -> float:
        """Rescale a total score to 0..100 (POMP): the common axis a report draws mixed
        questionnaires on. It does not make them equivalent (their means and spreads
        differ), so the model's features standardise within each questionnaire instead.

        POMP scoring follows Cohen, Cohen, Aiken & West (1999), "The problem of units
        and the circumstance for POMP", Multivariate Behavioral Research 34(3).
        """
        return 100.0 * (score - self.min_score) / (self.max_score - self.min_score)


INSTRUMENTS: dict[str, Instrument] = {
    instrument.code: instrument
    for instrument in (
        Instrument(
            code="WAI-SR",
            name="Working Alliance Inventory, short revised",
            min_score=12,
            max_score=60,
            citation="Hatcher & Gillaspy (2006): 12 items rated 1-5",
            reliability=0.91,
            reliability_source="Hatcher & Gillaspy (2006), Psychother Res 16(1): internal "
            "consistency of the total score, alpha about .91 (German samples: above .80, "
            "Munder et al. 2010, Clin Psychol Psychother 17(3))",
        ),
        Instrument(
            code="SRS",
            name="Session Rating Scale",
            min_score=0,
            max_score=40,
            citation="Duncan et al. (2003): 4 visual-analogue items scored 0-10",
            reliability=0.88,
            reliability_source="Duncan et al. (2003), J Brief Ther 3(1): internal consistency "
            "alpha .88",
            # PCOMS: an SRS total under about 36 points to a possible problem in the alliance
            # worth discussing with the client (Duncan 2012, Can Psychol 53(2)).
            alert_at_or_below=36.0,
            alert_source="PCOMS cut-off for the SRS (Duncan 2012, Can Psychol 53(2))",
        ),
        Instrument(
            code="TASC-R",
            name="Therapeutic Alliance Scale for Children, revised",
            min_score=12,
            max_score=48,
            citation="Shirk & Saiz (1992); Creed & Kendall (2005): 12 items rated 1-4",
            reliability=0.80,
            reliability_source="McLeod, Southam-Gerow & Kendall (2017), Psychol Assess 29(12): "
            "alpha above .80 for the child version; .80 is used as the lower bound",
        ),
    )
}


@dataclass(frozen=True)
class NumericRange:
    """Inclusive limits of a numeric field; `None` means unbounded on that side."""

    minimum: float | None
    maximum: float | None

    def describe(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"between {self.minimum:g} and {self.maximum:g}"
        if self.minimum is not None:
            return f"at least {self.minimum:g}"
        if self.maximum is not None:
            return f"at most {self.maximum:g}"
        return "any number"


AGE_YEARS = NumericRange(5, 100)
PRIOR_EPISODES = NumericRange(0, None)
YEARS_EXPERIENCE = NumericRange(0, 60)
CASELOAD = NumericRange(0, None)
SESSION_NUMBER = NumericRange(1, None)
GAD7 = NumericRange(0, 21)
PRE_SESSION_DISTRESS = NumericRange(0, 10)

#: The product predicts after each of the first five sessions (the landmarks).
LANDMARKS: tuple[int, ...] = (1, 2, 3, 4, 5)

#: Ages below this are child or adolescent clients (TASC-R is their instrument).
ADULT_AGE_YEARS = 18

#: Columns of the clients table that describe what happened after prediction time: needed
#: for training, never model inputs, absent or ignored when scoring.
OUTCOME_COLUMNS: tuple[str, ...] = ("episode_end_date", "episode_end_reason", "first_violence_date")

#: Outcome columns of data contract v1, refused with how each maps to v2.
RETIRED_OUTCOME_COLUMNS: dict[str, str] = {
    "dropout": (
        "is a data contract v1 column; v2 records how the episode ended instead: give "
        "episode_end_reason (dropout = true becomes 'dropout'; an ended episode without dropout "
        "becomes 'completed', 'transferred' or 'other'; an episode still in progress stays "
        "empty) and episode_end_date"
    ),
    "dropout_after_session": (
        "is a data contract v1 column; v2 takes episode_end_date instead, the date the clinic "
        "recorded the end of the episode (on or after the last booked session, attended or "
        "missed), and finds the landmark rows from the sessions"
    ),
    "violence": (
        "is a data contract v1 column; v2 takes first_violence_date instead: the date of the "
        "first violent incident toward others in this episode (violence = true), empty when "
        "none was recorded (violence = false)"
    ),
    "violence_after_session": (
        "is a data contract v1 column; v2 takes first_violence_date instead: the date of the "
        "incident rather than the session after which it happened"
    ),
}
