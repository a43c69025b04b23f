"""Turn the cells of clinic exports into typed columns, reporting every cell that fails.

Real exports differ in small ways (booleans as yes/no, a UTF-8 byte-order mark, `;` as the
delimiter). Parsing accepts those spellings and nothing looser: a cell that cannot be read
is reported with its row and column, never guessed at or dropped. A typed cell (Parquet)
is read as its CSV spelling would be, so both formats give the same table and problems.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_schemas.columns import PANDAS_DTYPES, ColumnSpec, Kind, TableSpec
from data_schemas.problems import Problem
from data_schemas.ranges import RETIRED_OUTCOME_COLUMNS

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})


def cells_as_text(cells: pd.Series) -> pd.Series:
    """Cells of any type as the stripped text a CSV export holds, empty cells missing (<NA>).

    Dates are written as ISO days (a time of day is kept, so the parser reports it) and
    booleans as true/false: a typed cell reads exactly as its CSV spelling would.
    """
    if pd.api.types.is_datetime64_any_dtype(cells):
        whole_days = cells.isna() | (cells == cells.dt.normalize())
        text = cells.dt.strftime("%Y-%m-%d").where(whole_days, cells.astype(str))
    elif pd.api.types.is_bool_dtype(cells):
        text = cells.map({True: "true", False: "false"})
    else:
        text = cells
    text = text.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _none_unreadable(cells: pd.Series) -> pd.Series:
    return pd.Series(False, index=cells.index)


def _as_numbers(
    numbers: pd.Series, spec: ColumnSpec, bad: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Numbers in the kind's dtype; in an integer column, a number that is not a whole
    64-bit integer (a fraction, an infinity, beyond 2**63) is unreadable."""
    if spec.kind is Kind.INTEGER:
        whole = (np.floor(numbers) == numbers) & (np.abs(numbers) < 2.0**63)
        improper = numbers.notna() & ~whole
        improper = improper.fillna(False).astype(bool)
        bad = bad | improper
        numbers = numbers.where(~improper)
    return numbers.astype(PANDAS_DTYPES[spec.kind]), bad


def _parse_text(text: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    """Return the typed column and a mask of cells that were present but unreadable."""
    present = text.notna()
    if spec.kind is Kind.TEXT:
        return text, _none_unreadable(text)
    if spec.kind is Kind.BOOLEAN:
        lowered = text.str.lower()
        parsed = pd.Series(pd.NA, index=text.index, dtype="boolean")
        parsed[lowered.isin(TRUE_WORDS).fillna(False)] = True
        parsed[lowered.isin(FALSE_WORDS).fillna(False)] = False
        return parsed, present & parsed.isna()
    if spec.kind is Kind.DATE:
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        return parsed.astype("datetime64[ns]"), present & parsed.isna()
    numbers = pd.to_numeric(text, errors="coerce")
    return _as_numbers(numbers, spec, present & numbers.isna())


def _parse_typed(cells: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, pd.Series] | None:
    """Read a typed column (from Parquet) whose type matches the kind without a detour
    through text, with the result text would give; None when it must be read as text.

    Text would hold one Python string per cell: several times the memory of the typed
    column, the largest cost of reading a large Parquet export.
    """
    types = pd.api.types
    if spec.kind is Kind.BOOLEAN:
        return (
            (cells.astype("boolean"), _none_unreadable(cells))
            if types.is_bool_dtype(cells)
            else None
        )
    if types.is_bool_dtype(cells):
        return None
    if spec.kind is Kind.DATE and types.is_datetime64_dtype(cells):
        dates = cells.astype("datetime64[ns]")
        whole_days = dates.isna() | (dates == dates.dt.normalize())
        return dates.where(whole_days), ~whole_days
    if spec.kind is Kind.INTEGER and types.is_signed_integer_dtype(cells):
        return cells.astype(PANDAS_DTYPES[spec.kind]), _none_unreadable(cells)
    if spec.kind in (Kind.INTEGER, Kind.NUMBER) and (
        types.is_float_dtype(cells) or types.is_integer_dtype(cells)
    ):
        numbers = pd.Series(cells.to_numpy(dtype="float64", na_value=np.nan), index=cells.index)
        return _as_numbers(numbers, spec, _none_unreadable(cells))
    return None


def _reason_unreadable(spec: ColumnSpec) -> str:
    return f"cannot be read as {spec.kind.value}; expected {spec.describe_allowed()}"


def parse_table(raw: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse a table of cells, text (as read from CSV) or typed (Parquet), into typed columns.

    Returns the typed table (rows indexed from 1) and the problems found: unknown or
    missing columns and unreadable cells. Unreadable cells are left empty in the typed
    table only so that later checks can run; a caller must not use a table whose
    problems list is not empty.
    """
    problems: list[Problem] = []
    # A new index without copying the cells (copy-on-write): a copy of a million-client
    # sessions table would cost a gigabyte for nothing.
    raw = raw.set_axis(pd.RangeIndex(1, len(raw) + 1), axis="index")
    known = set(spec.column_names)
    retired = RETIRED_OUTCOME_COLUMNS if spec.name == "clients" else {}
    for name in raw.columns:
        if name in retired:
            problems.append(Problem(spec.name, None, str(name), None, retired[name]))
        elif name not in known:
            problems.append(
                Problem(
                    spec.name,
                    None,
                    str(name),
                    None,
                    "unknown column; allowed columns are " + ", ".join(spec.column_names),
                )
            )
    for name in spec.required_columns:
        if name not in raw.columns:
            problems.append(Problem(spec.name, None, name, None, "required column is missing"))

    typed = pd.DataFrame(index=raw.index)
    for column in spec.columns:
        if column.outcome and column.name not in raw.columns:
            continue
        cells = raw[column.name] if column.name in raw.columns else None
        parsed = (
            None if cells is None or column.default is not None else _parse_typed(cells, column)
        )
        if parsed is None:
            if cells is None:
                cells = pd.Series(column.default, index=raw.index, dtype="string")
            else:
                cells = cells_as_text(cells)
            if column.default is not None:
                cells = cells.fillna(column.default)
            parsed = _parse_text(cells, column)
        values, unreadable = parsed
        typed[column.name] = values
        for row in unreadable[unreadable].index:
            problems.append(
                Problem(
                    spec.name, int(row), column.name, str(cells[row]), _reason_unreadable(column)
                )
            )
    return typed, problems
