"""One client's `ClientHistory` taken from validated `ClinicTables`.

The batch world (three tables) and the single-record world (the API's `ClientHistory`)
meet here, so a report or a one-client check made from files sees exactly what the API
would have been sent. Only fields of the records are copied: outcome columns never leave
the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from data_schemas.records import ClientHistory, ClientRecord, SessionRecord, TherapistRecord
from data_schemas.tables import ClinicTables


class HistoryNotFoundError(LookupError):
    """The tables hold no such client, or fewer sessions than were asked for."""


def _plain(value: Any) -> Any:
    """A table cell as a plain Python value: `None` for a gap, `date` for a timestamp."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fields(row: pd.Series, names: Iterable[str]) -> dict[str, Any]:
    """The cells of `row` that are fields of a record (outcome columns are not)."""
    return {name: _plain(row[name]) for name in names if name in row.index}


def history_from_tables(
    tables: ClinicTables, client_id: str, as_of: int | None = None
) -> ClientHistory:
    """The client's record, their therapist and sessions 1..`as_of` (all when `None`).

    Raises `HistoryNotFoundError` naming what is missing: an unknown client, or an
    `as_of` session the client has not had.
    """
    clients = tables.clients[tables.clients["client_id"] == client_id]
    if clients.empty:
        raise HistoryNotFoundError(
            f"clients: no row with client_id {client_id!r}; check the id in clients.csv "
            "or clients.parquet"
        )
    client = _fields(clients.iloc[0], ClientRecord.model_fields)
    therapists = tables.therapists[tables.therapists["therapist_id"] == client["therapist_id"]]
    therapist = _fields(therapists.iloc[0], TherapistRecord.model_fields)
    sessions = tables.sessions[tables.sessions["client_id"] == client_id].sort_values(
        "session_number", kind="stable"
    )
    if as_of is not None:
        if as_of < 1:
            raise HistoryNotFoundError(f"as_of must be a session number of 1 or more, got {as_of}")
        if len(sessions) < as_of:
            raise HistoryNotFoundError(
                f"sessions: client {client_id!r} has {len(sessions)} session(s), so there is "
                f"no session {as_of} to report as of"
            )
        sessions = sessions[sessions["session_number"] <= as_of]
    return ClientHistory(
        client=ClientRecord(**client),
        therapist=TherapistRecord(**therapist),
        sessions=[
            SessionRecord(**_fields(row, SessionRecord.model_fields))
            for _, row in sessions.iterrows()
        ],
    )
