"""Check typed clinic tables against the contract and report every problem at once.

Column-level rules (empty cells, ranges, allowed values, uniqueness) are expressed as
pandera schemas built from `data_schemas.columns`; rules that span fields or tables
(a score within its instrument's range, sessions numbered 1..n, dates in order, every
therapist known) are checked with pandas below. Both produce `Problem`s.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from data_schemas import ranges
from data_schemas.columns import PANDAS_DTYPES, ColumnSpec, TableSpec
from data_schemas.problems import Problem


def _checks(column: ColumnSpec) -> list[pa.Check]:
    checks = []
    if column.allowed is not None:
        checks.append(pa.Check.isin(list(column.allowed)))
    if column.value_range is not None:
        if column.value_range.minimum is not None:
            checks.append(pa.Check.ge(column.value_range.minimum))
        if column.value_range.maximum is not None:
            checks.append(pa.Check.le(column.value_range.maximum))
    return checks


def pandera_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """The column-level rules of a table as a pandera schema."""
    return pa.DataFrameSchema(
        {
            c.name: pa.Column(
                PANDAS_DTYPES[c.kind],
                checks=_checks(c),
                nullable=c.nullable,
                unique=c.unique,
                required=not c.outcome,
            )
            for c in spec.columns
        },
        strict=False,
        name=spec.name,
    )


def _reason(column: ColumnSpec, check: str) -> str:
    if check == "not_nullable":
        return "must not be empty"
    if check == "field_uniqueness":
        return "must be unique; this value appears more than once"
    return "must be " + column.describe_allowed()


def check_columns(
    typed: pd.DataFrame, spec: TableSpec, already_reported: set[tuple[int, str]]
) -> list[Problem]:
    """Run the pandera schema lazily and turn every failure case into a `Problem`."""
    try:
        pandera_schema(spec).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    problems = []
    for case in cases.itertuples(index=False):
        column = spec.column(case.column)
        row = None if pd.isna(case.index) else int(case.index)
        if row is not None and (row, column.name) in already_reported:
            continue
        value = None if pd.isna(case.failure_case) else str(case.failure_case)
        problems.append(Problem(spec.name, row, column.name, value, _reason(column, case.check)))
    return problems


def _flag(
    table: str, frame: pd.DataFrame, mask: pd.Series, column: str, reason: str, *, show: bool = True
) -> list[Problem]:
    """One problem per row where `mask` is true, quoting the cell unless `show` is false."""
    rows = mask[mask.fillna(False).astype(bool)].index
    return [
        Problem(table, int(row), column, _text(frame.at[row, column]) if show else None, reason)
        for row in rows
    ]


def check_clients(clients: pd.DataFrame, therapists: pd.DataFrame) -> list[Problem]:
    """Cross-field and cross-table rules of the clients table."""
    unknown = clients["therapist_id"].notna() & ~clients["therapist_id"].isin(
        therapists["therapist_id"].dropna()
    )
    problems = _flag(
        "clients",
        clients,
        unknown,
        "therapist_id",
        "no therapist with this id in the therapists table",
    )
    if set(ranges.OUTCOME_COLUMNS) <= set(clients.columns):
        problems += check_episode_outcomes(clients)
    return problems


def check_sessions(sessions: pd.DataFrame, clients: pd.DataFrame) -> list[Problem]:
    """Cross-field and cross-table rules of the sessions table."""
    known = sessions["client_id"].isin(clients["client_id"].dropna())
    problems = _flag(
        "sessions",
        sessions,
        sessions["client_id"].notna() & ~known,
        "client_id",
        "no client with this id in the clients table",
    )

    key = ["client_id", "session_number"]
    duplicated = sessions.duplicated(key, keep=False) & sessions[key].notna().all(axis=1)
    problems += _flag(
        "sessions",
        sessions,
        duplicated,
        "session_number",
        "this client already has a session with this number",
    )

    ordered = sessions[sessions[key].notna().all(axis=1)].sort_values(key, kind="stable")
    expected = ordered.groupby("client_id", sort=False).cumcount() + 1
    gaps = ordered["session_number"] != expected
    first_gap = gaps & ~gaps.groupby(ordered["client_id"]).shift(1, fill_value=False)
    problems += _flag(
        "sessions",
        sessions,
        first_gap & ~duplicated.reindex(first_gap.index),
        "session_number",
        "session numbers must run 1, 2, 3, ... per client without gaps",
    )

    previous_date = ordered.groupby("client_id", sort=False)["session_date"].shift(1)
    not_later = ordered["session_date"].notna() & (ordered["session_date"] <= previous_date)
    problems += _flag(
        "sessions",
        sessions,
        not_later,
        "session_date",
        "must be later than the date of the client's previous session",
    )

    intake = sessions["client_id"].map(
        clients.drop_duplicates("client_id").set_index("client_id")["intake_date"]
    )
    problems += _flag(
        "sessions",
        sessions,
        sessions["session_date"] < intake,
        "session_date",
        "must not be before the client's intake date",
    )

    missed = sessions["attended"].eq(False)
    for column in ("alliance_instrument", "alliance_score", "anxiety_gad7", "pre_session_distress"):
        problems += _flag(
            "sessions",
            sessions,
            missed & sessions[column].notna(),
            column,
            "must be empty for a session the client did not attend",
        )

    score = sessions["alliance_score"]
    instrument = sessions["alliance_instrument"]
    problems += _flag(
        "sessions",
        sessions,
        score.notna() & instrument.isna() & ~missed,
        "alliance_instrument",
        "must name the instrument when an alliance score is given",
        show=False,
    )
    for code, spec in ranges.INSTRUMENTS.items():
        outside = instrument.eq(code) & ((score < spec.min_score) | (score > spec.max_score))
        problems += _flag(
            "sessions",
            sessions,
            outside,
            "alliance_score",
            f"must be between {spec.min_score} and {spec.max_score} for {code}",
        )
    return problems


def check_episode_outcomes(clients: pd.DataFrame) -> list[Problem]:
    """An episode's end and first incident must fit together and fit its intake.

    The end date and reason are given together (both empty while the episode is ongoing);
    neither the end nor an incident may come before intake; an incident is recorded only
    during the episode, so not after its end.
    """
    end, reason = clients["episode_end_date"], clients["episode_end_reason"]
    intake, incident = clients["intake_date"], clients["first_violence_date"]
    problems = _flag(
        "clients",
        clients,
        reason.notna() & end.isna(),
        "episode_end_date",
        "must be given when episode_end_reason is given (the date the episode ended)",
    )
    problems += _flag(
        "clients",
        clients,
        end.notna() & reason.isna(),
        "episode_end_reason",
        "must be given when episode_end_date is given: completed, dropout, transferred or other",
        show=False,
    )
    problems += _flag(
        "clients", clients, end < intake, "episode_end_date", "must not be before the intake date"
    )
    problems += _flag(
        "clients",
        clients,
        incident < intake,
        "first_violence_date",
        "must not be before the intake date (an incident before this episode is history, "
        "recorded as history_of_violence)",
    )
    problems += _flag(
        "clients",
        clients,
        incident > end,
        "first_violence_date",
        "must not be after episode_end_date: incidents are recorded only during the episode",
    )
    return problems


def check_sessions_within_episodes(sessions: pd.DataFrame, clients: pd.DataFrame) -> list[Problem]:
    """No session may come after the end of its client's episode."""
    if "episode_end_date" not in clients.columns:
        return []
    end = sessions["client_id"].map(
        clients.drop_duplicates("client_id").set_index("client_id")["episode_end_date"]
    )
    return _flag(
        "sessions",
        sessions,
        sessions["session_date"] > end,
        "session_date",
        "must not be after the client's episode_end_date (a session after the episode ended)",
    )


#: Every date of the contract: (table, column).
DATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("clients", "intake_date"),
    ("clients", "episode_end_date"),
    ("clients", "first_violence_date"),
    ("sessions", "session_date"),
)


def latest_date(frames: dict[str, pd.DataFrame]) -> pd.Timestamp | None:
    """The latest date anywhere in the tables: the default export date (`--as-of`)."""
    dates = [
        frames[table][column].max()
        for table, column in DATE_COLUMNS
        if column in frames[table].columns and frames[table][column].notna().any()
    ]
    return max(dates) if dates else None


def check_as_of(frames: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> list[Problem]:
    """Every date after the export date: data cannot describe days after they were exported."""
    problems = []
    for table, column in DATE_COLUMNS:
        frame = frames[table]
        if column in frame.columns:
            problems += _flag(
                table,
                frame,
                frame[column] > as_of,
                column,
                f"is after the export date {as_of.date().isoformat()} (--as-of); give an "
                "--as-of on or after every date in the data",
            )
    return problems


def _text(value: object) -> str | None:
    """A cell as the person wrote it: dates as ISO, whole numbers without a decimal point."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
