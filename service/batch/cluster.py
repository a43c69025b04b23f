"""`alliance-risk score --dask`: batch scoring with explanations into a partitioned Parquet dataset.

Each bucket of whole clients gets its feature rows from the model's own fitted
`LandmarkFeatureBuilder`; `map_partitions` then scores (and explains) every partition with
the registered model, which the cluster holds once per worker. Rows equal those of
`service.batch.scoring.score_folder` on the same data.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.dataset
from distributed import Client, progress

from data_schemas.buckets import default_buckets, load_bucketed
from data_schemas.tables import ClinicTables
from features.landmarks import LandmarkFeatureBuilder, by_landmark
from models.predictor import AllianceRiskModel, withhold_first_incident
from models.pyfunc import load_predictor
from models.store import CHAMPION_URI, StoreSettings, configure_mlflow
from service.batch.scoring import provenance

#: Carried beside the features: 1.0 when an incident is already recorded, NaN when not known.
INCIDENT = "violent_incident_this_episode"


def _feature_rows(
    tables: ClinicTables, builder: LandmarkFeatureBuilder, latest_only: bool
) -> pd.DataFrame:
    features = builder.transform(tables)
    if latest_only:
        features = features.groupby(level="client_id", sort=False).tail(1)
    flat = features.reset_index(level="landmark", drop=True).reset_index()
    incident = tables.clients.set_index("client_id")["violent_incident_this_episode"]
    flat[INCIDENT] = (
        incident.reindex(flat["client_id"])
        .astype("Float64")
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    return flat.astype({"client_id": object})


def _feature_meta(names: tuple[str, ...]) -> pd.DataFrame:
    columns = {"client_id": pd.Series(dtype=object)}
    columns |= {name: pd.Series(dtype=np.float64) for name in names}
    return pd.DataFrame(columns | {INCIDENT: pd.Series(dtype=np.float64)})


def _scored(rows: pd.DataFrame, model: AllianceRiskModel, explain: bool) -> pd.DataFrame:
    """One partition's scores, keyed by client_id and landmark columns."""
    features = by_landmark(rows)
    incident = pd.Series(rows[INCIDENT].to_numpy() == 1.0, index=rows["client_id"].to_numpy())
    scored = model.score_frame(features[list(model.feature_names)], explain=explain)
    return withhold_first_incident(scored, incident.groupby(level=0).first()).reset_index()


def score_dataset_on_cluster(
    data: Path,
    out: Path,
    client: Client,
    *,
    model_uri: str = CHAMPION_URI,
    store: StoreSettings | None = None,
    explain: bool = False,
    every_landmark: bool = False,
    n_buckets: int | None = None,
    show_progress: bool = True,
) -> tuple[int, bool]:
    """Score every client at their latest landmark (or every landmark) into `out/part.*.parquet`.

    Returns the rows written and whether the model was trained on synthetic data; the
    model's identity and the synthetic-data notice travel in every file's metadata.
    """
    configure_mlflow(store or StoreSettings())
    model = load_predictor(model_uri)
    tables = load_bucketed(client, data, n_buckets=n_buckets or default_buckets(client))
    builder = dask.delayed(model.features, pure=True)
    features = dd.from_delayed(
        [dask.delayed(_feature_rows)(b, builder, not every_landmark) for b in tables.buckets],
        meta=_feature_meta(model.feature_names),
        verify_meta=False,
    )
    [model_on_workers] = client.scatter([model], broadcast=True)
    sample = features.partitions[0].head(1, compute=True)
    meta = _scored(sample, model, explain).iloc[:0]
    scored = features.map_partitions(_scored, model_on_workers, explain, meta=meta)
    write = scored.to_parquet(
        out,
        write_index=False,
        compute=False,
        custom_metadata={b"alliance_risk": provenance(model, model_uri)},
    )
    written = client.compute(write)
    if show_progress:
        progress(written)
    written.result()
    return pyarrow.dataset.dataset(out).count_rows(), model.metadata.synthetic_data
