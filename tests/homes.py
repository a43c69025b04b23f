"""Test helper: run against a private data directory and MLflow store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def private_home(home: Path) -> Iterator[Path]:
    """Point the project (and MLflow) at a data directory, restoring the old one after.

    `mlflow.set_tracking_uri` also writes MLFLOW_TRACKING_URI into the environment, which
    would otherwise outlive the block and send later runs to this home's store.
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
