"""The service's one settings object; nothing else in the service reads the environment.

Every field can be set as `ALLIANCE_RISK_<FIELD>` (for example `ALLIANCE_RISK_MODEL_URI`);
the tracking URI also honours MLflow's own `MLFLOW_TRACKING_URI`.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.store import CHAMPION_URI


class BandOverride(BaseModel):
    """Probabilities at which moderate and high risk begin, replacing the model's own."""

    moderate: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> BandOverride:
        if self.moderate > self.high:
            raise ValueError("moderate must not exceed high")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALLIANCE_RISK_", extra="ignore")

    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLIANCE_RISK_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking store; the local SQLite store in ALLIANCE_RISK_HOME when unset.",
    )
    model_uri: str = Field(default=CHAMPION_URI, description="Model to serve, by MLflow URI.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    band_thresholds: dict[str, BandOverride] = Field(
        default_factory=dict,
        description='Per-outcome band overrides as JSON, e.g. {"dropout": {"moderate": 0.2, "high": 0.35}}.',
    )
    max_batch_size: int = Field(default=1000, ge=1, le=10_000)


@lru_cache
def get_settings() -> Settings:
    return Settings()
