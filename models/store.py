"""Where models live: the MLflow tracking store, the registered name and the live alias.

Training and the service both read these, so a default is defined once.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_NAME = "alliance-risk"
CHAMPION_ALIAS = "champion"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"


def home_directory() -> Path:
    """The project's data directory: `ALLIANCE_RISK_HOME`, or `./var` beside the caller."""
    return Path(os.environ.get("ALLIANCE_RISK_HOME", "var")).resolve()


def default_tracking_uri(home: Path | None = None) -> str:
    """A local SQLite store inside the data directory: nothing to start, nothing to install."""
    home = home or home_directory()
    return f"sqlite:///{home / 'mlflow.db'}"


def default_artifact_location(home: Path | None = None) -> str:
    home = home or home_directory()
    return (home / "mlartifacts").as_uri()


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set (a shared server or PostgreSQL), else the local store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def configure_mlflow() -> str:
    """Point MLflow at the tracking store and make sure the local folder exists."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri
