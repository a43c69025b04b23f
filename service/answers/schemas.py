"""Response bodies of the API (requests are the data contract's records)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from features.spec import Evidence


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelIdentity(_Response):
    name: str = Field(description="Registered model name.")
    version: str | None = Field(description="Registered version that produced the answer.")
    alias: str | None = Field(description="Alias the version was loaded through, e.g. champion.")
    trained_at: str
    synthetic_data: bool = Field(description="True when the model was trained on synthetic data.")


class Contribution(_Response):
    feature: str = Field(description="Feature name in the registry.")
    label: str = Field(description="What the feature means, in plain language.")
    unit: str
    value: float | None = Field(
        description="The client's value (categories as codes); null if not recorded."
    )
    display_value: str = Field(description="The client's value as a person reads it.")
    contribution: float = Field(description="SHAP contribution in calibrated log-odds.")
    direction: Literal["raises", "lowers", "neutral"]
    evidence: Evidence | None = Field(
        default=None,
        description="'agrees' or 'contradicts': whether this contribution moves the estimate "
        "the way the literature says this feature does, given whether the value is above "
        "its reading point (no fall, no missed session, a level alliance, a binary 'no'; for "
        "alliance levels the model's typical value) or not. TreeSHAP shares one effect among related features "
        "(the alliance's level, fall and trend), so one of them can come out against the "
        "evidence although the model never moves a risk that way when the feature alone "
        "changes; summaries, reports and cards never name such a factor. Null where the "
        "literature gives no direction, the value is missing or nothing moved.",
    )
    reason: bool = Field(
        default=False,
        description="Whether summaries, reports and cards may name this contribution as a "
        "reason: a factor of this episode so far that moves the estimate, does not "
        "contradict the evidence, and acts through the client rather than through how the "
        "outcome is recorded (attendance is never a reason for the violence estimate: "
        "incidents are recorded only while a client is in care).",
    )
    group: Literal["episode", "background"] = Field(
        description="'episode': this episode so far (alliance, attendance, anxiety), what a "
        "clinician can see change and act on; 'background': who the client and therapist are "
        "and the setting, associations in the model, not causes."
    )


class Explanation(_Response):
    base_value: float = Field(
        description="Calibrated log-odds before any feature is considered: the model's average "
        "over the training clients at all sessions (not only at this one)."
    )
    logit: float = Field(description="Calibrated log-odds of the returned probability.")
    contributions: list[Contribution] = Field(description="Every feature, largest magnitude first.")


class OutcomeResult(_Response):
    probability: float = Field(ge=0, le=1, description="Calibrated probability.")
    band: Literal["low", "moderate", "high"]
    band_thresholds: dict[str, float] = Field(
        description="Probabilities where moderate and high begin at this session."
    )
    band_definition: str = Field(description="What the band means, in words.")
    percentile: float = Field(
        ge=0, le=100, description="Percent of training clients at the same session with lower risk."
    )
    summary: str = Field(description="One plain-language sentence.")
    explanation: Explanation


class PredictionResponse(_Response):
    request_id: str
    as_of_session: int = Field(description="The landmark used: the number of sessions considered.")
    model: ModelIdentity
    notices: list[str] = Field(
        description="Always shown with the result (decision support; synthetic data)."
    )
    warnings: list[str]
    predictions: dict[Literal["dropout", "violence"], OutcomeResult] = Field(
        description="One result per outcome estimated; an outcome in `withheld` has none."
    )
    withheld: dict[Literal["dropout", "violence"], str] = Field(
        default_factory=dict,
        description="Outcomes given no estimate, and why: violence when "
        "client.violent_incident_this_episode is true (the model estimates a first incident).",
    )


#: Every problem type the service answers with (each is described in the README).
ProblemType = Literal[
    "/problems/invalid-input",
    "/problems/not-predictable",
    "/problems/model-not-ready",
    "/problems/internal-error",
    "/problems/bad-request",
    "/problems/unauthorized",
    "/problems/forbidden",
    "/problems/not-found",
    "/problems/method-not-allowed",
    "/problems/not-acceptable",
    "/problems/conflict",
    "/problems/request-too-large",
    "/problems/too-many-requests",
    "/problems/request-timed-out",
    "/problems/audit-unavailable",
    "/problems/report-link-invalid",
    "/problems/report-link-expired",
    "/problems/report-link-stale",
]


class ProblemDetail(_Response):
    """RFC 9457 problem details, with the JSON path of each offending field."""

    type: ProblemType
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BatchRequest(_Response):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        description="Up to the configured batch size (1,000 by default) client histories, "
        "each a ClientHistory object. Each item is checked on its own: one that breaks the "
        "contract gets its own 422 in `results`, and the others are answered.",
    )


class BatchItem(_Response):
    index: int
    status: int
    prediction: PredictionResponse | None = None
    error: ProblemDetail | None = None


class BatchResponse(_Response):
    request_id: str
    model: ModelIdentity
    results: list[BatchItem]


class ReloadResult(_Response):
    status: Literal["loaded"]
    model_version: str | None = Field(description="The version now serving.")


class FeatureInfo(_Response):
    name: str
    label: str
    unit: str
    kind: str


class ModelInfo(_Response):
    model: ModelIdentity
    uri: str
    landmarks: list[int]
    training_summary: dict[str, Any]
    headline_metrics: dict[str, Any]
    features: list[FeatureInfo]
    band_thresholds: dict[str, dict[str, dict[str, float]]] = Field(
        description="Per outcome and session: probabilities where moderate and high begin."
    )
    band_rule: str = Field(description="How the bands were set.")
    validation: dict[str, Any] = Field(
        default_factory=dict,
        description="Held-out validation beyond the headline metrics: per outcome, net benefit "
        "over threshold probabilities 1% to 50% for the model, its baselines, treat all and "
        "treat none (decision curves), where the model beats both defaults, and net benefit "
        "at the band thresholds; and what the bootstrap resampled. Empty for versions "
        "registered before these were recorded.",
    )
    notices: list[str]
    model_card_markdown: str
