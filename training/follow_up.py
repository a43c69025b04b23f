"""Which clients have been followed long enough for their outcome to be known.

A clinic's recent clients mostly have open episodes, and those already ended are the short
ones, which is where dropouts are; an incident is recorded at once while a quiet episode
stays open (censored). Labels of recent clients therefore overstate both outcomes, so
monitoring and recalibration use only clients with at least `follow_up_days` between
intake and the export date. Training is not affected: its labels come from episodes of
every intake, and it reports what it censored in the participant flow.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from data_schemas.tables import ClinicTables

#: A long course of psychotherapy: the default wait before a client's outcome counts.
DEFAULT_FOLLOW_UP_DAYS = 365


def followed_up(
    tables: ClinicTables, index: pd.MultiIndex, export: dt.date, follow_up_days: int
) -> np.ndarray:
    """For each (client_id, landmark) row of `index`: was the client's intake at least
    `follow_up_days` before `export`?"""
    intake = tables.clients.drop_duplicates("client_id").set_index("client_id")["intake_date"]
    row_intake = pd.to_datetime(intake.reindex(index.get_level_values("client_id")))
    cutoff = pd.Timestamp(export) - pd.Timedelta(days=follow_up_days)
    return (row_intake <= cutoff).to_numpy()
