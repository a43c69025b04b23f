"""One batch-scoring measurement in its own process, so its peak memory is its own.

Usage: python tests/benchmarks/batch_worker.py MODE DATA_DIR ROWS
MODE is `features` (build landmark rows from the tables), `scores` (probabilities, bands,
percentiles), `explained` (the same with exact TreeSHAP contributions) or `mlflow`
(`mlflow.pyfunc` predict of the same registered version). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from data_schemas.tables import load_clinic_data
from features.registry import FEATURE_NAMES
from models.pyfunc import load_predictor
from models.store import CHAMPION_URI, StoreSettings, configure_mlflow


def landmark_rows(model, data: Path, rows: int) -> pd.DataFrame:
    """The cohort's landmark rows, repeated until there are `rows` of them."""
    features = model.features.transform(load_clinic_data(data))
    repeats = -(-rows // len(features))
    return pd.concat([features] * repeats).iloc[:rows]


def main(mode: str, data: Path, rows: int) -> None:
    configure_mlflow(StoreSettings())
    model = load_predictor(CHAMPION_URI)
    if mode == "features":
        tables = load_clinic_data(data)
        started = time.perf_counter()
        built = model.features.transform(tables)
        elapsed = time.perf_counter() - started
        print(json.dumps({"rows": len(built), "seconds": elapsed}))
        return
    features = landmark_rows(model, data, rows)
    if mode == "mlflow":
        import mlflow.pyfunc

        loaded = mlflow.pyfunc.load_model(CHAMPION_URI)
        frame = features[list(FEATURE_NAMES)].reset_index(drop=True)
        started = time.perf_counter()
        loaded.predict(frame)
    else:
        started = time.perf_counter()
        scored = model.score_frame(features, explain=mode == "explained")
        assert np.isfinite(scored["dropout_probability"]).all()
    elapsed = time.perf_counter() - started
    print(json.dumps({"rows": len(features), "seconds": elapsed}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
