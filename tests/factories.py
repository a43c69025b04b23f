"""Tiny hand-built clinic tables for tests, typed and validated like loaded data.

`client(...)`, `therapist(...)` and `trajectory(...)` make rows with sensible defaults;
`clinic_tables(...)` turns them into `ClinicTables` and checks them with the contract's
own rules, so a test can never pass on data the product would reject.
`client_histories(...)` turns the clients of a table back into the API's `ClientHistory` records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from data_schemas import ranges, validation
from data_schemas.columns import CLIENTS, PANDAS_DTYPES, SESSIONS, THERAPISTS, TableSpec
from data_schemas.records import ClientHistory, ClientRecord, SessionRecord, TherapistRecord
from data_schemas.tables import ClinicTables

Row = dict[str, Any]

INTAKE = "2024-01-08"


def therapist(therapist_id: str = "T1", **overrides: Any) -> Row:
    """A therapist row: an experienced CBT psychologist unless overridden."""
    row = {
        "therapist_id": therapist_id,
        "years_experience": 8.0,
        "profession": "psychologist",
        "orientation": "cbt",
        "caseload": 20,
    }
    return row | overrides


def client(client_id: str, therapist_id: str = "T1", **overrides: Any) -> Row:
    """A client row whose episode was completed without an incident unless overridden.

    An episode with an end reason but no `episode_end_date` ends on its last session's date
    (`clinic_tables` fills it in); `episode_end_reason=None` makes it ongoing.
    """
    row = {
        "client_id": client_id,
        "therapist_id": therapist_id,
        "site_id": "S1",
        "intake_date": INTAKE,
        "age_years": 34,
        "sex": "F",
        "interpreter_used": False,
        "prior_episodes": 1,
        "history_of_violence": False,
        "substance_misuse": False,
        "primary_problem": "depression",
        "setting": "outpatient",
        "violent_incident_this_episode": None,
        "episode_end_date": None,
        "episode_end_reason": "completed",
        "first_violence_date": None,
    }
    return row | overrides


def trajectory(
    client_id: str,
    alliance: Sequence[float | None],
    *,
    instrument: str = "WAI-SR",
    first_date: str = "2024-01-15",
    every_days: int = 7,
    missed: Iterable[int] = (),
    rater: str = "client",
    gad7: Sequence[int | None] | None = None,
    distress: Sequence[int | None] | None = None,
) -> list[Row]:
    """Session rows 1..len(alliance): weekly, attended unless in `missed` (1-based).

    `None` in `alliance` is an attended session without an alliance rating; a missed
    session carries no ratings, whatever `alliance`, `gad7` or `distress` say for it.
    """
    missed = set(missed)
    start = dt.date.fromisoformat(first_date)
    rows = []
    for number, score in enumerate(alliance, start=1):
        came = number not in missed
        rated = came and score is not None
        rows.append(
            {
                "client_id": client_id,
                "session_number": number,
                "session_date": (start + dt.timedelta(days=every_days * (number - 1))).isoformat(),
                "attended": came,
                "alliance_instrument": instrument if rated else None,
                "alliance_score": score if rated else None,
                "alliance_rater": rater,
                "anxiety_gad7": gad7[number - 1] if came and gad7 else None,
                "pre_session_distress": distress[number - 1] if came and distress else None,
            }
        )
    return rows


def _incident(first_date: dt.date, *, after_session: int) -> str:
    """The day after weekly session `after_session`; the day before session 1 for 0."""
    days = 7 * (after_session - 1) + 1 if after_session else -1
    return (first_date + dt.timedelta(days=days)).isoformat()


def small_clinic_rows() -> tuple[list[Row], list[Row], list[Row]]:
    """Twelve clients of three therapists, mixed outcomes, instruments and attendance."""
    clients, sessions = [], []
    for i in range(12):
        client_id = f"C{i:02d}"
        n_sessions = (i % 7) + 1
        dropout = i % 3 == 0
        violence = i % 5 == 0
        first_date = dt.date(2023, 1, 5) + dt.timedelta(days=20 * i)
        clients.append(
            client(
                client_id,
                therapist_id=f"T{i % 3 + 1}",
                intake_date=(dt.date(2023, 1, 2) + dt.timedelta(days=20 * i)).isoformat(),
                age_years=14 + 4 * i,
                sex=["F", "M", "X", "U"][i % 4],
                interpreter_used=i % 4 == 1,
                history_of_violence=violence,
                primary_problem=list(ranges.PrimaryProblem)[i % 7].value,
                setting=list(ranges.Setting)[i % 3].value,
                episode_end_reason="dropout" if dropout else "completed",
                first_violence_date=_incident(first_date, after_session=i % 4)
                if violence
                else None,
            )
        )
        sessions += trajectory(
            client_id,
            [24 + (i * 7 + s * 5) % 17 if (i + s) % 4 else None for s in range(n_sessions)],
            instrument=list(ranges.INSTRUMENTS)[i % 3],
            first_date=first_date.isoformat(),
            missed=[s for s in range(2, n_sessions + 1) if (i + s) % 5 == 0],
            rater="therapist" if i % 4 == 2 else "client",
            gad7=[(i + s) % 22 for s in range(n_sessions)],
            distress=[(i * s) % 11 if s % 3 else None for s in range(n_sessions)],
        )
    therapists = [
        therapist("T1"),
        therapist("T2", profession="trainee", orientation="systemic", years_experience=1.5),
        therapist("T3", profession="psychiatrist", caseload=35),
    ]
    return clients, sessions, therapists


def small_clinic() -> ClinicTables:
    """The twelve clients of `small_clinic_rows` as validated tables."""
    clients, sessions, therapists = small_clinic_rows()
    return clinic_tables(clients, sessions, therapists)


def _frame(rows: Sequence[Row], spec: TableSpec) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(spec.column_names))
    for column in spec.columns:
        frame[column.name] = frame[column.name].astype(PANDAS_DTYPES[column.kind])
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _with_end_dates(clients: Sequence[Row], sessions: Sequence[Row]) -> list[Row]:
    """An ended episode without an end date ends on its last session (or intake) date."""
    last: dict[str, str] = {}
    for row in sessions:
        day = pd.Timestamp(row["session_date"]).date().isoformat()
        last[row["client_id"]] = max(last.get(row["client_id"], ""), day)
    return [
        row | {"episode_end_date": last.get(row["client_id"], row["intake_date"])}
        if row.get("episode_end_reason") and row.get("episode_end_date") is None
        else row
        for row in clients
    ]


def clinic_tables(
    clients: Sequence[Row], sessions: Sequence[Row], therapists: Sequence[Row] | None = None
) -> ClinicTables:
    """Typed tables from rows, checked with the contract's rules (default: therapist T1)."""
    tables = ClinicTables(
        _frame(_with_end_dates(clients, sessions), CLIENTS),
        _frame(therapists if therapists is not None else [therapist()], THERAPISTS),
        _frame(sessions, SESSIONS),
    )
    problems = [
        *validation.check_columns(tables.clients, CLIENTS, set()),
        *validation.check_columns(tables.therapists, THERAPISTS, set()),
        *validation.check_columns(tables.sessions, SESSIONS, set()),
        *validation.check_clients(tables.clients, tables.therapists),
        *validation.check_sessions(tables.sessions, tables.clients),
        *validation.check_sessions_within_episodes(tables.sessions, tables.clients),
    ]
    if problems:
        raise ValueError("invalid test tables:\n" + "\n".join(p.describe() for p in problems))
    return tables


def _plain(value: Any) -> Any:
    """A table cell as a record value: missing -> None, timestamp -> date."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def client_histories(tables: ClinicTables) -> dict[str, ClientHistory]:
    """Every client of the tables as the API receives them (outcomes left out)."""
    therapists = {
        row["therapist_id"]: TherapistRecord(
            **{name: _plain(row[name]) for name in TherapistRecord.model_fields}
        )
        for row in tables.therapists.to_dict("records")
    }
    sessions: dict[str, list[SessionRecord]] = {}
    ordered = tables.sessions.sort_values(["client_id", "session_number"])
    for row in ordered.to_dict("records"):
        sessions.setdefault(row["client_id"], []).append(
            SessionRecord(**{name: _plain(row[name]) for name in SessionRecord.model_fields})
        )
    histories = {}
    for row in tables.clients.to_dict("records"):
        record = ClientRecord(**{name: _plain(row[name]) for name in ClientRecord.model_fields})
        histories[record.client_id] = ClientHistory(
            client=record,
            therapist=therapists[record.therapist_id],
            sessions=sessions.get(record.client_id, []),
        )
    return histories
