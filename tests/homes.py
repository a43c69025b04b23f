"""Test helper: run against a private data directory and MLflow store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from models.store import StoreSettings, configure_mlflow


@contextmanager
def private_home(home: Path) -> Iterator[Path]:
    """Point the project (and MLflow) at a data directory, restoring the old one after.

    `mlflow.set_tracking_uri` also writes MLFLOW_TRACKING_URI into the environment and
    keeps the URI in MLflow's own state; both would otherwise outlive the block and send
    later calls to this home's store, so both are put back.
    """
    keys = ("ALLIANCE_RISK_HOME", "MLFLOW_TRACKING_URI")
    saved = {key: os.environ.get(key) for key in keys}
    os.environ["ALLIANCE_RISK_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if saved["ALLIANCE_RISK_HOME"] is not None:
            configure_mlflow(StoreSettings())
