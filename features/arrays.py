"""Wide per-client arrays of the first sessions: the one input of the feature core.

The batch path (`ClinicTables`, pandas) and the API path (one `ClientHistory`, no pandas)
both build a `ClientArrays`, and `features.core` computes every feature from it. The two
builders below only copy and encode values; all arithmetic lives in the core, so the two
paths cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from data_schemas import ranges
from data_schemas.records import ClientHistory
from data_schemas.tables import ClinicTables
from features.alliance_norms import INSTRUMENT_CODES
from features.registry import FeatureSpec, feature

_INSTRUMENT_CODE: dict[str, int] = {code: i for i, code in enumerate(INSTRUMENT_CODES)}
NO_INSTRUMENT = -1

#: Client attributes used as features: feature name -> column of the clients table.
CLIENT_ATTRIBUTES: dict[str, str] = {
    "age_years": "age_years",
    "sex": "sex",
    "interpreter_used": "interpreter_used",
    "prior_episodes": "prior_episodes",
    "history_of_violence": "history_of_violence",
    "substance_misuse": "substance_misuse",
    "primary_problem": "primary_problem",
    "setting": "setting",
}

#: Therapist attributes used as features: feature name -> column of the therapists table.
THERAPIST_ATTRIBUTES: dict[str, str] = {
    "therapist_years_experience": "years_experience",
    "therapist_profession": "profession",
    "therapist_orientation": "orientation",
    "therapist_caseload": "caseload",
}

#: Feature names of the columns of `ClientArrays.attributes`, in order.
ATTRIBUTE_FEATURES: tuple[str, ...] = (*CLIENT_ATTRIBUTES, *THERAPIST_ATTRIBUTES)

_EPOCH = dt.date(1970, 1, 1)
_THERAPIST = ranges.AllianceRater.THERAPIST.value


@dataclass(frozen=True)
class ClientArrays:
    """Clients as rows, sessions 1..width as columns (a missing session leaves its cells empty).

    Session cells: `attended` (False when the session does not exist), `alliance_score` on
    the instrument's own scale (NaN when not rated), `alliance_instrument` as a code into
    `INSTRUMENT_CODES` (`NO_INSTRUMENT` when none is named), `rated_by_therapist`, and
    `gad7`, `distress` and `days_since_intake` (NaN when not recorded). `attributes` holds
    the encoded client and therapist features named in `ATTRIBUTE_FEATURES`. `n_sessions` counts existing sessions up
    to `width`; since sessions are numbered 1..n, session k exists iff `n_sessions >= k`.
    """

    client_ids: np.ndarray
    therapist_ids: np.ndarray
    intake_days: np.ndarray
    n_sessions: np.ndarray
    attended: np.ndarray
    alliance_score: np.ndarray
    alliance_instrument: np.ndarray
    rated_by_therapist: np.ndarray
    gad7: np.ndarray
    distress: np.ndarray
    days_since_intake: np.ndarray
    attributes: np.ndarray

    def take(self, rows: np.ndarray) -> ClientArrays:
        """The same arrays restricted to some clients (rows)."""
        return ClientArrays(*(getattr(self, f.name)[rows] for f in fields(self)))


def _as_float(series: pd.Series) -> np.ndarray:
    return series.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _encode_series(series: pd.Series, spec: FeatureSpec) -> np.ndarray:
    if spec.kind == "categorical":
        codes = pd.Categorical(series, categories=spec.categories).codes.astype(np.float64)
        return np.where(codes < 0, np.nan, codes)
    return _as_float(series)


def _encode_value(value: object, spec: FeatureSpec) -> float:
    if value is None:
        return np.nan
    if spec.kind == "categorical":
        return spec.code(str(value))
    return float(value)


def _days(dates: pd.Series) -> np.ndarray:
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def arrays_from_tables(tables: ClinicTables, width: int) -> ClientArrays:
    """Pivot sessions 1..width of every client into wide arrays; clients sorted by id."""
    clients = tables.clients.sort_values("client_id", kind="stable").reset_index(drop=True)
    client_ids = clients["client_id"].to_numpy(dtype=object)
    n = len(clients)
    therapists = tables.therapists.drop_duplicates("therapist_id").set_index("therapist_id")
    their_therapist = therapists.reindex(clients["therapist_id"]).reset_index(drop=True)
    attributes = np.column_stack(
        [
            _encode_series(clients[column], feature(name))
            for name, column in CLIENT_ATTRIBUTES.items()
        ]
        + [
            _encode_series(their_therapist[column], feature(name))
            for name, column in THERAPIST_ATTRIBUTES.items()
        ]
    )
    intake_days = _days(clients["intake_date"])

    sessions = tables.sessions[tables.sessions["session_number"] <= width]
    row = pd.Index(client_ids).get_indexer(sessions["client_id"])
    if (row < 0).any():
        unknown = sessions["client_id"].to_numpy()[row < 0][0]
        raise ValueError(f"sessions: client_id {unknown!r} has no row in the clients table")
    col = sessions["session_number"].to_numpy(dtype=np.int64) - 1

    def cells(values: np.ndarray, empty: float | bool) -> np.ndarray:
        grid = np.full((n, width), empty, dtype=values.dtype)
        grid[row, col] = values
        return grid

    instrument = pd.Categorical(sessions["alliance_instrument"], categories=INSTRUMENT_CODES)
    return ClientArrays(
        client_ids=client_ids,
        therapist_ids=clients["therapist_id"].to_numpy(dtype=object),
        intake_days=intake_days,
        n_sessions=np.bincount(row, minlength=n).astype(np.int64),
        attended=cells(sessions["attended"].to_numpy(dtype=bool, na_value=False), False),
        alliance_score=cells(_as_float(sessions["alliance_score"]), np.nan),
        alliance_instrument=cells(instrument.codes.astype(np.int64), NO_INSTRUMENT),
        rated_by_therapist=cells(
            sessions["alliance_rater"].eq(_THERAPIST).to_numpy(dtype=bool, na_value=False), False
        ),
        gad7=cells(_as_float(sessions["anxiety_gad7"]), np.nan),
        distress=cells(_as_float(sessions["pre_session_distress"]), np.nan),
        days_since_intake=cells(
            (_days(sessions["session_date"]) - intake_days[row]).astype(np.float64), np.nan
        ),
        attributes=attributes,
    )


def arrays_from_history(history: ClientHistory, width: int) -> ClientArrays:
    """The same arrays for one client, straight from the record (fast: no pandas)."""
    client, therapist = history.client, history.therapist
    sessions = history.sessions[:width]
    intake_day = (client.intake_date - _EPOCH).days
    padding = width - len(sessions)
    nan_pad = [np.nan] * padding

    def row(values: list[float]) -> np.ndarray:
        return np.array([values + nan_pad], dtype=np.float64)

    def optional(value: float | None) -> float:
        return np.nan if value is None else float(value)

    instrument = [
        _INSTRUMENT_CODE.get(s.alliance_instrument, NO_INSTRUMENT)
        if s.alliance_instrument is not None
        else NO_INSTRUMENT
        for s in sessions
    ]
    attributes = [
        _encode_value(getattr(client, column), feature(name))
        for name, column in CLIENT_ATTRIBUTES.items()
    ] + [
        _encode_value(getattr(therapist, column), feature(name))
        for name, column in THERAPIST_ATTRIBUTES.items()
    ]
    return ClientArrays(
        client_ids=np.array([client.client_id], dtype=object),
        therapist_ids=np.array([client.therapist_id], dtype=object),
        intake_days=np.array([intake_day], dtype=np.int64),
        n_sessions=np.array([len(sessions)], dtype=np.int64),
        attended=np.array([[s.attended for s in sessions] + [False] * padding], dtype=bool),
        alliance_score=row([optional(s.alliance_score) for s in sessions]),
        alliance_instrument=np.array([instrument + [NO_INSTRUMENT] * padding], dtype=np.int64),
        rated_by_therapist=np.array(
            [[s.alliance_rater == _THERAPIST for s in sessions] + [False] * padding], dtype=bool
        ),
        gad7=row([optional(s.anxiety_gad7) for s in sessions]),
        distress=row([optional(s.pre_session_distress) for s in sessions]),
        days_since_intake=row(
            [float((s.session_date - _EPOCH).days - intake_day) for s in sessions]
        ),
        attributes=np.array([attributes], dtype=np.float64),
    )
