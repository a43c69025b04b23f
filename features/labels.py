"""Training labels per (client, landmark): the two prediction tasks, defined once.

The definitions are shared with the synthetic cohort's oracle, so they are written out
exactly. At landmark k (after session k):

- dropout: a client who dropped out after an earlier session (dropout_after_session < k)
  is no longer in treatment, so the row is not in the task (NaN); the label is 1 when the
  client drops out after session k or later, else 0.
- violence: the product predicts a *first* incident, given none so far, so a client whose
  first incident came before session k (violence_after_session < k) is not in the task;
  the label is 1 when the first incident comes after session k or later, else 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_schemas.tables import ClinicTables

#: Task name -> (outcome flag column, column saying after which session it happened).
TASKS: dict[str, tuple[str, str]] = {
    "dropout": ("dropout", "dropout_after_session"),
    "violence": ("violence", "violence_after_session"),
}


def landmark_labels(tables: ClinicTables, index: pd.MultiIndex) -> pd.DataFrame:
    """Labels for the given (client_id, landmark) rows: 1.0 / 0.0, NaN when not in the task."""
    if not tables.has_outcomes:
        raise ValueError(
            "labels need the outcome columns dropout and violence in the clients table"
        )
    clients = tables.clients.drop_duplicates("client_id").set_index("client_id")
    client_ids = index.get_level_values("client_id")
    unknown = ~client_ids.isin(clients.index)
    if unknown.any():
        raise ValueError(f"no client {client_ids[unknown][0]!r} in the clients table")
    outcomes = clients.reindex(client_ids)
    landmark = index.get_level_values("landmark").to_numpy(dtype=np.float64)
    labels = {}
    for task, (flag, after) in TASKS.items():
        happened = outcomes[flag].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        session = outcomes[after].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        event = happened == 1.0
        label = (event & (session >= landmark)).astype(np.float64)
        labels[task] = np.where(np.isnan(happened) | (event & (session < landmark)), np.nan, label)
    return pd.DataFrame(labels, index=index)
