"""Single records of the contract as pydantic models, for the API and other callers.

They mirror the table rules of `data_schemas.columns` and take every limit from
`data_schemas.ranges`, so a record that passes here would pass as a table row.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from data_schemas import ranges


def _range(r: ranges.NumericRange) -> dict[str, float]:
    limits = {}
    if r.minimum is not None:
        limits["ge"] = r.minimum
    if r.maximum is not None:
        limits["le"] = r.maximum
    return limits


Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


class TherapistRecord(_Record):
    """The treating therapist."""

    therapist_id: Identifier
    years_experience: Annotated[float, Field(**_range(ranges.YEARS_EXPERIENCE))]
    profession: ranges.Profession
    orientation: ranges.Orientation
    caseload: Annotated[int, Field(**_range(ranges.CASELOAD))]


class ClientRecord(_Record):
    """The client's attributes known at intake (no outcomes: those are for training only)."""

    client_id: Identifier
    therapist_id: Identifier
    site_id: Identifier | None = None
    intake_date: dt.date
    age_years: Annotated[int, Field(**_range(ranges.AGE_YEARS))]
    sex: ranges.Sex
    interpreter_used: bool
    prior_episodes: Annotated[int, Field(**_range(ranges.PRIOR_EPISODES))]
    history_of_violence: bool
    substance_misuse: bool
    primary_problem: ranges.PrimaryProblem
    setting: ranges.Setting
    violent_incident_this_episode: bool | None = Field(
        default=None,
        description="True when a violent incident toward others is already recorded in this "
        "episode: the model estimates a first incident, so no violence estimate is given. "
        "When left out, the violence estimate assumes no incident so far.",
    )


def _session_rules() -> dict[str, list[dict[str, object]]]:
    """`_ratings_fit_attendance` in JSON Schema, so the published schema states it too."""
    rated = ("alliance_instrument", "alliance_score", "anxiety_gad7", "pre_session_distress")
    rules: list[dict[str, object]] = [
        {  # a missed session carries no ratings
            "if": {"properties": {"attended": {"const": False}}, "required": ["attended"]},
            "then": {"properties": {name: {"type": "null"} for name in rated}},
        },
        {  # a score names its instrument
            "if": {
                "properties": {"alliance_score": {"type": "number"}},
                "required": ["alliance_score"],
            },
            "then": {
                "properties": {"alliance_instrument": {"type": "string"}},
                "required": ["alliance_instrument"],
            },
        },
    ]
    for code, instrument in ranges.INSTRUMENTS.items():  # and lies on its instrument's scale
        rules.append(
            {
                "if": {
                    "properties": {"alliance_instrument": {"const": code}},
                    "required": ["alliance_instrument"],
                },
                "then": {
                    "properties": {
                        "alliance_score": {
                            "anyOf": [
                                {"type": "null"},
                                {
                                    "type": "number",
                                    "minimum": instrument.min_score,
                                    "maximum": instrument.max_score,
                                },
                            ]
                        }
                    }
                },
            }
        )
    return {"allOf": rules}


class SessionRecord(_Record):
    """One scheduled session and the ratings taken at it."""

    model_config = ConfigDict(json_schema_extra=_session_rules())

    session_number: Annotated[int, Field(**_range(ranges.SESSION_NUMBER))]
    session_date: dt.date
    attended: bool
    alliance_instrument: Annotated[str, Field(pattern="^(WAI-SR|SRS|TASC-R)$")] | None = None
    alliance_score: float | None = None
    alliance_rater: ranges.AllianceRater = ranges.AllianceRater.CLIENT
    anxiety_gad7: Annotated[int, Field(**_range(ranges.GAD7))] | None = None
    pre_session_distress: Annotated[int, Field(**_range(ranges.PRE_SESSION_DISTRESS))] | None = None

    @model_validator(mode="after")
    def _ratings_fit_attendance(self) -> Self:
        if not self.attended:
            for name in (
                "alliance_instrument",
                "alliance_score",
                "anxiety_gad7",
                "pre_session_distress",
            ):
                if getattr(self, name) is not None:
                    raise _located(
                        name, f"{name} must be empty for a session the client did not attend"
                    )
        if self.alliance_score is not None:
            if self.alliance_instrument is None:
                raise _located(
                    "alliance_instrument", "alliance_instrument is required with an alliance_score"
                )
            instrument = ranges.INSTRUMENTS[self.alliance_instrument]
            if not instrument.min_score <= self.alliance_score <= instrument.max_score:
                raise _located(
                    "alliance_score",
                    f"alliance_score must be between {instrument.min_score} and "
                    f"{instrument.max_score} for {instrument.code}",
                )
        return self


class ClientHistory(_Record):
    """Everything known about one client up to now: the unit the model predicts for.

    Rules across fields: client.therapist_id equals therapist.therapist_id; sessions are
    numbered 1, 2, 3, ... in order, none dated before intake_date, each dated after the one
    before it.
    """

    client: ClientRecord
    therapist: TherapistRecord
    sessions: list[SessionRecord] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _sessions_in_order(self) -> Self:
        if self.client.therapist_id != self.therapist.therapist_id:
            raise _located(
                "client/therapist_id", "client.therapist_id must equal therapist.therapist_id"
            )
        for index, session in enumerate(self.sessions):
            if session.session_number != index + 1:
                raise _located(
                    f"sessions/{index}/session_number",
                    f"sessions must be numbered 1, 2, 3, ... in order; expected {index + 1} here",
                )
            if session.session_date < self.client.intake_date:
                raise _located(
                    f"sessions/{index}/session_date", "session_date must not be before intake_date"
                )
            if index > 0 and session.session_date <= self.sessions[index - 1].session_date:
                raise _located(
                    f"sessions/{index}/session_date",
                    "session_date must be later than the previous session's date",
                )
        return self


def _located(pointer: str, message: str) -> PydanticCustomError:
    """A validation error that names the offending field as a JSON pointer (RFC 6901).

    Cross-field rules are checked on the whole record, where pydantic would report the
    record itself; the pointer in the error's context lets callers name the exact field.
    """
    return PydanticCustomError("contract_rule", message, {"pointer": "/" + pointer})
