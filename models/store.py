"""Where models live: the data directory, the MLflow tracking store, the name and the alias.

Training, batch scoring and the service all read these. `StoreSettings` is the one place
that reads them from the environment (`ALLIANCE_RISK_HOME`, `MLFLOW_TRACKING_URI` or
`ALLIANCE_RISK_TRACKING_URI`); each process makes one at its entry point and passes it on.
The service's own settings extend it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_NAME = "alliance-risk"
CHAMPION_ALIAS = "champion"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"


class StoreSettings(BaseSettings):
    """The data directory and the tracking store; every field is `ALLIANCE_RISK_<FIELD>`."""

    # populate_by_name: fields with an environment alias can still be set by name in code.
    model_config = SettingsConfigDict(
        env_prefix="ALLIANCE_RISK_", extra="ignore", populate_by_name=True
    )

    home: Path = Field(
        default=Path("var"),
        description="Data directory: the local MLflow store, the audit trail and its key.",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLIANCE_RISK_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking store; the local SQLite store in the home when unset.",
    )

    @property
    def home_directory(self) -> Path:
        return self.home.resolve()

    @property
    def tracking_store(self) -> str:
        """The configured tracking URI, else a SQLite store in the home (nothing to start)."""
        return self.tracking_uri or f"sqlite:///{self.home_directory / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        """Where a new experiment on the local store keeps its artifacts."""
        return (self.home_directory / "mlartifacts").as_uri()


def configure_mlflow(store: StoreSettings) -> str:
    """Point MLflow at the tracking store, making the local folder when it is the default."""
    import mlflow  # here, not above: the command line's --help should not wait for MLflow

    uri = store.tracking_store
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri
