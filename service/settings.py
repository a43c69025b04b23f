"""The service's one settings object; nothing else in the service reads the environment.

Every field can be set as `ALLIANCE_RISK_<FIELD>` (for example `ALLIANCE_RISK_MODEL_URI`);
the tracking URI also honours MLflow's own `MLFLOW_TRACKING_URI`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from models.store import CHAMPION_URI, StoreSettings


class BandOverride(BaseModel):
    """Probabilities at which moderate and high risk begin, replacing the model's own."""

    moderate: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> BandOverride:
        if self.moderate > self.high:
            raise ValueError("moderate must not exceed high")
        return self


class Settings(StoreSettings):
    """Everything a service process is configured with; the home and tracking store come
    from `StoreSettings`, which training and batch scoring use on their own."""

    model_config = SettingsConfigDict(
        env_prefix="ALLIANCE_RISK_", extra="ignore", populate_by_name=True
    )

    model_uri: str = Field(default=CHAMPION_URI, description="Model to serve, by MLflow URI.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    band_thresholds: dict[str, BandOverride] = Field(
        default_factory=dict,
        description='Per-outcome band overrides as JSON, e.g. {"dropout": {"moderate": 0.2, "high": 0.35}}.',
    )
    max_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # EHR integration (FHIR and CDS Hooks); see data_schemas/fhir_mapping.md.
    auth: Literal["enabled", "disabled"] = Field(
        default="enabled",
        description="'disabled' skips caller authentication; for local development only.",
    )
    cds_jwks: str | None = Field(
        default=None,
        description="Keys that sign CDS clients' JWTs: a JWKS (or PEM public key) inline, "
        "a file path, or an https URL.",
    )
    cds_issuers: list[str] = Field(
        default_factory=list, description="JWT `iss` values of the CDS clients allowed in."
    )
    cds_audience: str | None = Field(
        default=None,
        description="This service's public base URL, e.g. https://risk.example.org; a CDS "
        "JWT's `aud` must be this URL followed by the endpoint path.",
    )
    cds_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="How long the cards issued and the feedback received are kept in the "
        "shared database.",
    )
    report_link_key: SecretStr | None = Field(
        default=None,
        description="Secret that seals the report links on CDS cards; the same on every "
        "replica. A key file in ALLIANCE_RISK_HOME is created when unset.",
    )
    report_link_minutes: float = Field(
        default=15.0, gt=0, le=24 * 60, description="How long a report link on a card works."
    )
    fhir_fetch_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Timeout of each request to a CDS client's FHIR server.",
    )
    # Callers, audit and limits; see README "Security and privacy".
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Caller name -> API key hash, as printed by `alliance-risk keys create NAME`, "
        'e.g. {"ehr-gateway": "sha256:..."}.',
    )
    admin_api_keys: list[str] = Field(
        default_factory=list, description="Names of the API keys that may call /admin endpoints."
    )
    oauth_jwks: str | None = Field(
        default=None,
        description="Keys that sign OAuth2 bearer tokens: a JWKS (or PEM public key) inline, "
        "a file path, or an https URL.",
    )
    oauth_issuers: list[str] = Field(
        default_factory=list, description="Accepted `iss` values of OAuth2 bearer tokens."
    )
    oauth_audience: str | None = Field(
        default=None, description="The `aud` an OAuth2 bearer token must carry."
    )
    oauth_scope: str = Field(
        default="alliance-risk.predict", description="Scope needed for client-data endpoints."
    )
    oauth_admin_scope: str = Field(
        default="alliance-risk.admin", description="Scope needed for /admin endpoints."
    )
    audit_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the audit trail, e.g. postgresql+psycopg://...; "
        "SQLite (WAL) in ALLIANCE_RISK_HOME when unset.",
    )
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        description="Secret that keys the client-id hashes in the audit trail; a key file in "
        "ALLIANCE_RISK_HOME is created when unset.",
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="Requests per caller per minute and process; 0 = off."
    )
    request_timeout_seconds: float = Field(default=30.0, ge=0, description="0 = no timeout.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; none (CORS off) when empty."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a Prometheus scraper sends to GET /metrics; /metrics is off "
        "(404) when unset.",
    )
    model_poll_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How often to look for a new champion and load it; 0 = only on /admin/reload.",
    )


def limit_mlflow_http_retries() -> None:
    """Make MLflow give up on an unreachable tracking server quickly.

    MLflow retries for about four minutes by default and reads these limits only from the
    environment; a service waiting that long at start-up looks hung, and a reload retries
    anyway. Values an operator set are kept.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


@lru_cache
def get_settings() -> Settings:
    return Settings()
