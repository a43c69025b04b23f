"""Read a clinic data folder (CSV or Parquet) into validated, typed tables.

`load_clinic_data` is the one entry point: it reads the three tables, parses every cell,
checks every rule and either returns `ClinicTables` that are safe to use or raises
`DataValidationError` listing every problem. There is no partially valid result.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_schemas import validation
from data_schemas.columns import CLIENTS, SESSIONS, THERAPISTS, TableSpec
from data_schemas.parsing import parse_table
from data_schemas.problems import DataValidationError, Problem
from data_schemas.ranges import OUTCOME_COLUMNS


@dataclass(frozen=True)
class ClinicTables:
    """The three tables of the contract, typed and validated."""

    clients: pd.DataFrame
    therapists: pd.DataFrame
    sessions: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"clients": self.clients, "therapists": self.therapists, "sessions": self.sessions}

    def latest_date(self) -> dt.date | None:
        """The latest date anywhere in the tables: the export date unless one is given."""
        latest = validation.latest_date(self.frames())
        return None if latest is None else latest.date()

    @property
    def has_outcomes(self) -> bool:
        """Whether the clients table carries the outcome columns training needs."""
        return set(OUTCOME_COLUMNS) <= set(self.clients.columns)


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = handle.readline()
    delimiter = ";" if header.count(";") > header.count(",") else ","
    return pd.read_csv(
        path,
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
        quoting=csv.QUOTE_MINIMAL,
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read Parquet with its cells typed; Arrow's copy of each column is released as soon
    as pandas holds it, so the table is never in memory twice."""
    return pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)


def unreadable_parquet(table: str, path: Path, error: Exception) -> Problem:
    """The problem of a Parquet file that cannot be read (truncated, or not Parquet)."""
    return Problem(
        table,
        None,
        None,
        None,
        f"{path.name} is not a readable Parquet file: {type(error).__name__}",
    )


def table_source(folder: Path, name: str) -> Path:
    """The one file or dataset folder that holds table `name`: `<name>.csv`,
    `<name>.parquet` or `<name>/`, a partitioned Parquet dataset (as Spark or Dask write it).
    """
    candidates = (folder / f"{name}.csv", folder / f"{name}.parquet", folder / name)
    present = [path for path in candidates if path.exists()]
    if len(present) != 1:
        found = ", ".join(path.name for path in present) or "none of them"
        raise DataValidationError(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    f"keep exactly one of {name}.csv, {name}.parquet or {name}/ (a partitioned "
                    f"Parquet dataset) in {folder}; found {found}",
                )
            ]
        )
    return present[0]


def table_files(folder: Path, name: str) -> list[Path]:
    """Every file that holds table `name`, in a fixed order."""
    source = table_source(folder, name)
    return sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]


def read_raw_table(folder: Path, spec: TableSpec) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Find the table's file or dataset in the folder and read its cells: text from CSV,
    typed from Parquet (`parse_table` reads both)."""
    try:
        path = table_source(folder, spec.name)
    except DataValidationError as error:
        return None, error.problems
    try:
        if path.is_file() and path.stat().st_size == 0:
            return None, [Problem(spec.name, None, None, None, f"{path.name} is empty")]
        raw = _read_csv(path) if path.suffix == ".csv" else _read_parquet(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        return None, [
            Problem(
                spec.name,
                None,
                None,
                None,
                f"{path.name} is not a readable UTF-8 CSV file: {type(error).__name__}",
            )
        ]
    except (pa.ArrowException, OSError) as error:
        return None, [unreadable_parquet(spec.name, path, error)]
    if raw.empty:
        return None, [Problem(spec.name, None, None, None, f"{path.name} has no rows")]
    return raw, []


def parse_and_check(
    raw_clients: pd.DataFrame, raw_therapists: pd.DataFrame, raw_sessions: pd.DataFrame
) -> tuple[ClinicTables, list[Problem]]:
    """Parse three raw tables and apply every rule; the tables are usable only without problems."""
    problems: list[Problem] = []
    typed = {}
    for spec, raw in (
        (CLIENTS, raw_clients),
        (THERAPISTS, raw_therapists),
        (SESSIONS, raw_sessions),
    ):
        table, parse_problems = parse_table(raw, spec)
        unreadable = {(p.row, p.column) for p in parse_problems if p.row is not None}
        problems += parse_problems
        if not any(p.row is None for p in parse_problems):
            problems += validation.check_columns(table, spec, unreadable)
        typed[spec.name] = table
    clients, therapists, sessions = typed["clients"], typed["therapists"], typed["sessions"]
    if not any(p.row is None for p in problems):
        problems += validation.check_clients(clients, therapists)
        problems += validation.check_sessions(sessions, clients)
        problems += validation.check_sessions_within_episodes(sessions, clients)
    present_outcomes = [c for c in OUTCOME_COLUMNS if c in raw_clients.columns]
    if 0 < len(present_outcomes) < len(OUTCOME_COLUMNS):
        problems.append(
            Problem(
                "clients",
                None,
                None,
                None,
                "give all the outcome columns (" + ", ".join(OUTCOME_COLUMNS) + ") or none; "
                "found only " + ", ".join(present_outcomes),
            )
        )
    return ClinicTables(clients, therapists, sessions), problems


def load_clinic_data(folder: str | Path, *, require_outcomes: bool = False) -> ClinicTables:
    """Read and validate a clinic data folder; raise `DataValidationError` with every problem."""
    folder = Path(folder)
    problems: list[Problem] = []
    raws = {}
    for spec in (CLIENTS, THERAPISTS, SESSIONS):
        raw, read_problems = read_raw_table(folder, spec)
        problems += read_problems
        raws[spec.name] = raw
    if problems:
        raise DataValidationError(problems)
    tables, problems = parse_and_check(raws["clients"], raws["therapists"], raws["sessions"])
    if require_outcomes and not tables.has_outcomes:
        problems.append(
            Problem(
                "clients",
                None,
                "episode_end_reason",
                None,
                "training needs the outcome columns " + ", ".join(OUTCOME_COLUMNS),
            )
        )
    if problems:
        raise DataValidationError(problems)
    return tables


def write_clinic_data(
    tables: ClinicTables, folder: str | Path, *, file_format: str = "csv"
) -> None:
    """Write the three tables in the contract's file layout (dates as ISO, booleans as true/false)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("clients", tables.clients),
        ("therapists", tables.therapists),
        ("sessions", tables.sessions),
    ):
        if file_format == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            out = frame.copy()
            for column in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[column]):
                    out[column] = out[column].dt.strftime("%Y-%m-%d")
                elif pd.api.types.is_bool_dtype(out[column]):
                    out[column] = out[column].map({True: "true", False: "false"})
            out.to_csv(folder / f"{name}.csv", index=False)
