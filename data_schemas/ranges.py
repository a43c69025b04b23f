"""The one registry of allowed values and ranges in the clinic data contract.

Table schemas (`data_schemas.tables`), single-record models (`data_schemas.records`),
the synthetic cohort and the feature builder all read their limits from here, so a
range is changed in exactly one place.
"""

from __future__ import annotations

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
    """An alliance questionnaire and the range of its total score."""

    code: str
    name: str
    min_score: int
    max_score: int
    citation: str

    def percent_of_maximum(self, score: float) -> float:
        """Rescale a total score to 0..100 (POMP) so instruments can be compared.

        POMP scoring follows Cohen, Cohen, Aiken & West (1999), "The problem of units
        and the circumstance for POMP", Multivariate Behavioral Research 34(3).
        """
        return 100.0 * (score - self.min_score) / (self.max_score - self.min_score)

    def from_percent_of_maximum(self, pomp: float) -> float:
        """Inverse of `percent_of_maximum`, used to report scores on the instrument's scale."""
        return self.min_score + pomp / 100.0 * (self.max_score - self.min_score)


INSTRUMENTS: dict[str, Instrument] = {
    instrument.code: instrument
    for instrument in (
        Instrument(
            code="WAI-SR",
            name="Working Alliance Inventory, short revised",
            min_score=12,
            max_score=60,
            citation="Hatcher & Gillaspy (2006): 12 items rated 1-5",
        ),
        Instrument(
            code="SRS",
            name="Session Rating Scale",
            min_score=0,
            max_score=40,
            citation="Duncan et al. (2003): 4 visual-analogue items scored 0-10",
        ),
        Instrument(
            code="TASC-R",
            name="Therapeutic Alliance Scale for Children, revised",
            min_score=12,
            max_score=48,
            citation="Shirk & Saiz (1992); Creed & Kendall (2005): 12 items rated 1-4",
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
