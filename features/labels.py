"""Training labels per (client, landmark): the two prediction tasks, defined once.

A landmark row (client, k) exists when session k exists, attended or missed (the contract
keeps every session within the episode). Each label is decided only by what is known at
session k's date, d_k, and by the export date (`as_of`), when follow-up ends:

- dropout: 1 when the episode ended with `dropout`; 0 when it ended `completed`,
  `transferred` or `other` (competing endings, not dropouts); an episode still ongoing at
  the export date has no known outcome yet: censored, left out of the task.
- violence: the product predicts a *first* incident, so a row whose episode already had an
  incident on or before d_k is excluded. Otherwise 1 when the first incident comes after d_k
  (within `violence_horizon_days` of d_k when a horizon is set; else during the episode).
  0 when none came and the episode was followed for the whole horizon: to its end without
  a horizon (an ongoing episode is censored), or for at least the horizon's days with one
  (an episode that ended sooner, or is ongoing with less follow-up, is censored). Incidents
  are recorded only while the client is in care, so a client who leaves early is observed
  for less time; the model card says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from data_schemas.ranges import EpisodeEndReason
from data_schemas.tables import ClinicTables

OUTCOMES: tuple[str, ...] = ("dropout", "violence")


class LabelStatus(StrEnum):
    """Why a landmark row is, or is not, in an outcome's task."""

    EVENT = "event"
    NO_EVENT = "no_event"
    CENSORED = "censored"  # follow-up ended before the outcome could be known
    EXCLUDED = "excluded"  # an incident on or before d_k: not a first-incident row


@dataclass(frozen=True)
class OutcomeDefinitions:
    """The export date and the violence horizon every label of a run is defined with."""

    as_of: dt.date
    violence_horizon_days: int | None = None

    def __post_init__(self) -> None:
        if self.violence_horizon_days is not None and self.violence_horizon_days < 1:
            raise ValueError(
                f"violence_horizon_days must be at least 1, got {self.violence_horizon_days}"
            )

    def as_params(self) -> dict[str, str]:
        """How a run records them (MLflow parameters, model metadata)."""
        return {
            "as_of": self.as_of.isoformat(),
            "violence_horizon_days": str(self.violence_horizon_days or "episode"),
        }

    @classmethod
    def from_params(
        cls, params: Mapping[str, object], *, as_of: dt.date | None = None
    ) -> OutcomeDefinitions:
        """The definitions a run recorded (`as_params`), optionally at another export date."""
        horizon = str(params["violence_horizon_days"])
        return cls(
            as_of=as_of or dt.date.fromisoformat(str(params["as_of"])),
            violence_horizon_days=None if horizon == "episode" else int(horizon),
        )


def _days(values: pd.Series) -> np.ndarray:
    """Dates as float days since 1970, NaN for a gap (so comparisons with a gap are False)."""
    days = values.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    return np.where(values.isna().to_numpy(), np.nan, days.astype(np.float64))


def landmark_dates(tables: ClinicTables, index: pd.MultiIndex) -> np.ndarray:
    """Day (since 1970) of session k for each (client_id, landmark) row of `index`."""
    sessions = tables.sessions
    keyed = pd.Series(
        _days(sessions["session_date"]),
        index=pd.MultiIndex.from_arrays(
            [
                sessions["client_id"].to_numpy(dtype=object),
                sessions["session_number"].to_numpy(dtype=np.int64),
            ]
        ),
    )
    found = keyed.reindex(index)
    if found.isna().any():
        client, landmark = found.index[found.isna().to_numpy()][0]
        raise ValueError(f"no session {landmark} of client {client!r} in the sessions table")
    return found.to_numpy(dtype=np.float64)


def _status_of(label: np.ndarray, status: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(label), status, np.where(label == 1.0, "event", "no_event"))


def landmark_labels(
    tables: ClinicTables, index: pd.MultiIndex, definitions: OutcomeDefinitions
) -> pd.DataFrame:
    """Labels for the given (client_id, landmark) rows and why each row is in its task.

    Columns `dropout` and `violence` (1.0, 0.0, NaN when not in the task) and
    `dropout_status` and `violence_status` (a `LabelStatus` value per row).
    """
    if not tables.has_outcomes:
        raise ValueError(
            "labels need the outcome columns episode_end_date, episode_end_reason and "
            "first_violence_date in the clients table"
        )
    clients = tables.clients.drop_duplicates("client_id").set_index("client_id")
    client_ids = index.get_level_values("client_id")
    unknown = ~client_ids.isin(clients.index)
    if unknown.any():
        raise ValueError(f"no client {client_ids[unknown][0]!r} in the clients table")
    episodes = clients.reindex(client_ids)
    reason = episodes["episode_end_reason"]
    ended = reason.notna().to_numpy()
    end = _days(episodes["episode_end_date"])
    incident = _days(episodes["first_violence_date"])
    as_of = float((definitions.as_of - dt.date(1970, 1, 1)).days)
    session_day = landmark_dates(tables, index)

    is_dropout = reason.eq(EpisodeEndReason.DROPOUT.value).fillna(False).to_numpy(dtype=bool)
    dropout = np.where(ended, is_dropout * 1.0, np.nan)
    dropout_status = _status_of(dropout, LabelStatus.CENSORED.value)

    before = incident <= session_day
    horizon = definitions.violence_horizon_days
    if horizon is None:
        event = incident > session_day
        observed_long_enough = ended
    else:
        event = (incident > session_day) & (incident <= session_day + horizon)
        followed_to = np.where(ended, end, as_of)
        observed_long_enough = followed_to >= session_day + horizon
    violence = np.where(event, 1.0, np.where(observed_long_enough, 0.0, np.nan))
    violence[before] = np.nan
    violence_status = _status_of(violence, LabelStatus.CENSORED.value)
    violence_status[before] = LabelStatus.EXCLUDED.value
    return pd.DataFrame(
        {
            "dropout": dropout,
            "violence": violence,
            "dropout_status": dropout_status,
            "violence_status": violence_status,
        },
        index=index,
    )
