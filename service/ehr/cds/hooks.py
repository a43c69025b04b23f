"""The CDS Hooks 2.0 JSON documents: discovery, request, response (cards) and feedback.

Field names, optionality and allowed values are the specification's. Optional fields are
omitted rather than null (the specification forbids null and empty values unless stated),
so responses are serialised with `exclude_none`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Indicator = Literal["info", "warning", "critical"]

#: Summary length limit: "One-sentence, <140-character summary message".
SUMMARY_MAX_CHARS = 139


class _Document(BaseModel):
    # `extension` is reserved by the specification for agreed additions; keep whatever comes.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CdsServiceDefinition(_Document):
    hook: str
    title: str
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = Field(default=None, alias="usageRequirements")


class Discovery(_Document):
    services: list[CdsServiceDefinition]


class FhirAuthorization(_Document):
    access_token: str = Field(min_length=1)
    token_type: str = Field(pattern="^[Bb]earer$")
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class CdsRequest(_Document):
    model_config = ConfigDict(
        json_schema_extra={
            # `_server_with_authorization`, stated in the published schema.
            "if": {
                "properties": {"fhirAuthorization": {"type": "object"}},
                "required": ["fhirAuthorization"],
            },
            "then": {
                "properties": {"fhirServer": {"type": "string", "minLength": 1}},
                "required": ["fhirServer"],
            },
        }
    )

    hook: str = Field(min_length=1)
    hook_instance: str = Field(min_length=1, alias="hookInstance")
    fhir_server: str | None = Field(default=None, alias="fhirServer")
    fhir_authorization: FhirAuthorization | None = Field(default=None, alias="fhirAuthorization")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_authorization(self) -> CdsRequest:
        # "If fhirAuthorization is provided, this field [fhirServer] is REQUIRED."
        if self.fhir_authorization is not None and not self.fhir_server:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        return self


class Coding(_Document):
    system: str
    code: str
    display: str | None = None


class Source(_Document):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Link(_Document):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    app_context: str | None = Field(default=None, alias="appContext")


class Card(_Document):
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX_CHARS)
    detail: str | None = None
    indicator: Indicator
    source: Source
    links: list[Link] | None = None


class CdsResponse(_Document):
    cards: list[Card]


class AcceptedSuggestion(_Document):
    id: str


class OverrideReason(_Document):
    reason: Coding | None = None
    user_comment: str | None = Field(default=None, alias="userComment")


class Feedback(_Document):
    model_config = ConfigDict(
        json_schema_extra={
            # `_accepted_names_suggestions`, stated in the published schema.
            "if": {"properties": {"outcome": {"const": "accepted"}}, "required": ["outcome"]},
            "then": {
                "properties": {"acceptedSuggestions": {"type": "array", "minItems": 1}},
                "required": ["acceptedSuggestions"],
            },
        }
    )

    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(
        default=None, alias="acceptedSuggestions"
    )
    override_reason: OverrideReason | None = Field(default=None, alias="overrideReason")
    outcome_timestamp: dt.datetime = Field(alias="outcomeTimestamp")

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> Feedback:
        # acceptedSuggestions is "Required for accepted outcomes".
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is required when outcome is 'accepted'")
        return self


class FeedbackRequest(_Document):
    feedback: list[Feedback] = Field(min_length=1)
