"""Column specifications of the three clinic tables.

Each column is declared once, with its type, whether it may be empty and what values it
allows. Parsing, validation, the pydantic records and the feature builder all read these
declarations instead of repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from data_schemas import ranges


class Kind(StrEnum):
    """How a column's text is parsed."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"


#: pandas dtype that each kind is parsed into (nullable dtypes, so a gap stays a gap).
PANDAS_DTYPES: dict[Kind, str] = {
    Kind.TEXT: "string",
    Kind.INTEGER: "Int64",
    Kind.NUMBER: "Float64",
    Kind.BOOLEAN: "boolean",
    Kind.DATE: "datetime64[ns]",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a clinic table."""

    name: str
    kind: Kind
    description: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    value_range: ranges.NumericRange | None = None
    unique: bool = False
    default: str | None = None
    outcome: bool = False

    def describe_allowed(self) -> str:
        """Say in words what the column accepts, for error messages and docs."""
        if self.allowed is not None:
            return "one of " + ", ".join(self.allowed)
        if self.value_range is not None:
            return self.value_range.describe()
        return {
            Kind.TEXT: "text",
            Kind.INTEGER: "a whole number",
            Kind.NUMBER: "a number",
            Kind.BOOLEAN: "true/false, 1/0 or yes/no",
            Kind.DATE: "an ISO date (YYYY-MM-DD)",
        }[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """A clinic table: its name and columns."""

    name: str
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    key: tuple[str, ...] = field(default_factory=tuple)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a file must contain (outcome columns and defaulted ones may be absent)."""
        return tuple(
            c.name for c in self.columns if not c.outcome and not c.nullable and c.default is None
        )


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


CLIENTS = TableSpec(
    name="clients",
    description="One row per client episode.",
    key=("client_id",),
    columns=(
        ColumnSpec("client_id", Kind.TEXT, "Pseudonymous client identifier.", unique=True),
        ColumnSpec("therapist_id", Kind.TEXT, "The client's therapist (must exist in therapists)."),
        ColumnSpec("site_id", Kind.TEXT, "Clinic or site.", nullable=True),
        ColumnSpec("intake_date", Kind.DATE, "Date of the intake assessment."),
        ColumnSpec("age_years", Kind.INTEGER, "Age at intake.", value_range=ranges.AGE_YEARS),
        ColumnSpec("sex", Kind.TEXT, "Recorded sex.", allowed=_values(ranges.Sex)),
        ColumnSpec("interpreter_used", Kind.BOOLEAN, "Sessions held through an interpreter."),
        ColumnSpec(
            "prior_episodes",
            Kind.INTEGER,
            "Earlier treatment episodes.",
            value_range=ranges.PRIOR_EPISODES,
        ),
        ColumnSpec("history_of_violence", Kind.BOOLEAN, "Documented violence before intake."),
        ColumnSpec("substance_misuse", Kind.BOOLEAN, "Current substance misuse."),
        ColumnSpec(
            "primary_problem",
            Kind.TEXT,
            "Main presenting problem.",
            allowed=_values(ranges.PrimaryProblem),
        ),
        ColumnSpec("setting", Kind.TEXT, "Treatment setting.", allowed=_values(ranges.Setting)),
        ColumnSpec(
            "violent_incident_this_episode",
            Kind.BOOLEAN,
            "A violent incident toward others is already recorded in this episode; when true, "
            "no violence estimate is given (the model estimates a first incident). Optional; "
            "used when scoring, not in training.",
            nullable=True,
        ),
        ColumnSpec(
            "episode_end_date",
            Kind.DATE,
            "Date the clinic recorded the end of the episode; empty while it is ongoing "
            "(training only).",
            nullable=True,
            outcome=True,
        ),
        ColumnSpec(
            "episode_end_reason",
            Kind.TEXT,
            "How the episode ended: completed (planned or agreed), dropout (stopped attending "
            "without agreement before the planned end), transferred (referred elsewhere or "
            "moved) or other; empty while it is ongoing (training only).",
            nullable=True,
            allowed=_values(ranges.EpisodeEndReason),
            outcome=True,
        ),
        ColumnSpec(
            "first_violence_date",
            Kind.DATE,
            "Date of the first violent incident toward others recorded in this episode; empty "
            "when none was recorded (training only).",
            nullable=True,
            outcome=True,
        ),
    ),
)

THERAPISTS = TableSpec(
    name="therapists",
    description="One row per therapist.",
    key=("therapist_id",),
    columns=(
        ColumnSpec("therapist_id", Kind.TEXT, "Pseudonymous therapist identifier.", unique=True),
        ColumnSpec(
            "years_experience",
            Kind.NUMBER,
            "Years of clinical experience.",
            value_range=ranges.YEARS_EXPERIENCE,
        ),
        ColumnSpec("profession", Kind.TEXT, "Profession.", allowed=_values(ranges.Profession)),
        ColumnSpec(
            "orientation",
            Kind.TEXT,
            "Therapeutic orientation.",
            allowed=_values(ranges.Orientation),
        ),
        ColumnSpec(
            "caseload", Kind.INTEGER, "Current number of clients.", value_range=ranges.CASELOAD
        ),
    ),
)

SESSIONS = TableSpec(
    name="sessions",
    description="One row per scheduled session.",
    key=("client_id", "session_number"),
    columns=(
        ColumnSpec("client_id", Kind.TEXT, "The client (must exist in clients)."),
        ColumnSpec(
            "session_number",
            Kind.INTEGER,
            "1, 2, 3, ... consecutive per client.",
            value_range=ranges.SESSION_NUMBER,
        ),
        ColumnSpec("session_date", Kind.DATE, "Scheduled date; not before intake."),
        ColumnSpec("attended", Kind.BOOLEAN, "Whether the client came."),
        ColumnSpec(
            "alliance_instrument",
            Kind.TEXT,
            "Alliance questionnaire used; empty when not attended or not rated.",
            nullable=True,
            allowed=tuple(ranges.INSTRUMENTS),
        ),
        ColumnSpec(
            "alliance_score",
            Kind.NUMBER,
            "Total alliance score on the instrument's own scale.",
            nullable=True,
        ),
        ColumnSpec(
            "alliance_rater",
            Kind.TEXT,
            "Who filled in the alliance questionnaire.",
            allowed=_values(ranges.AllianceRater),
            default=ranges.AllianceRater.CLIENT.value,
        ),
        ColumnSpec(
            "anxiety_gad7",
            Kind.INTEGER,
            "GAD-7 total (Spitzer et al. 2006).",
            nullable=True,
            value_range=ranges.GAD7,
        ),
        ColumnSpec(
            "pre_session_distress",
            Kind.INTEGER,
            "How anxious the client felt before the session, 0-10.",
            nullable=True,
            value_range=ranges.PRE_SESSION_DISTRESS,
        ),
    ),
)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (CLIENTS, THERAPISTS, SESSIONS)}
