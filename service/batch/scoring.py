"""`alliance-risk score`: batch scoring of a clinic data folder with a registered model."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data_schemas.tables import load_clinic_data
from models.predictor import SYNTHETIC_DATA_NOTICE, AllianceRiskModel
from models.pyfunc import load_predictor
from models.store import CHAMPION_URI, StoreSettings, configure_mlflow

#: What a scored file says of its violence columns.
VIOLENCE_IN_FILES = (
    "empty with violence_withheld = true where violent_incident_this_episode is true (the "
    "model estimates a first incident); where it is empty, the estimate assumes no incident "
    "so far in the episode"
)


def provenance(model: AllianceRiskModel, model_uri: str) -> bytes:
    """The Parquet metadata every scored file carries: which model, and the synthetic notice."""
    record = {
        "model_uri": model_uri,
        "trained_at": model.metadata.trained_at,
        "synthetic_data": model.metadata.synthetic_data,
    }
    if model.metadata.synthetic_data:
        record["notice"] = SYNTHETIC_DATA_NOTICE
    record["violence_estimates"] = VIOLENCE_IN_FILES
    return json.dumps(record).encode()


def score_folder(
    data: Path,
    out: Path,
    *,
    model_uri: str = CHAMPION_URI,
    store: StoreSettings | None = None,
    explain: bool = False,
    every_landmark: bool = False,
) -> tuple[int, bool]:
    """Score every client at their latest landmark (or at every landmark) and write Parquet.

    Returns the number of rows written and whether the model was trained on synthetic data.
    The model's identity and the synthetic-data notice travel in the file's metadata.
    """
    configure_mlflow(store or StoreSettings())
    tables = load_clinic_data(data)
    model = load_predictor(model_uri)
    scored = model.score_tables(tables, latest_only=not every_landmark, explain=explain)
    table = pa.Table.from_pandas(scored.reset_index(), preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"alliance_risk": provenance(model, model_uri)}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return len(scored), model.metadata.synthetic_data
