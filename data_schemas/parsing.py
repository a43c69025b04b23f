"""Turn text cells from clinic exports into typed columns, reporting every cell that fails.

Real exports differ in small ways (booleans as yes/no, a UTF-8 byte-order mark, `;` as the
delimiter). Parsing accepts those spellings and nothing looser: a cell that cannot be read
is reported with its row and column, never guessed at or dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_schemas.columns import PANDAS_DTYPES, ColumnSpec, Kind, TableSpec
from data_schemas.problems import Problem
from data_schemas.ranges import RETIRED_OUTCOME_COLUMNS

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})


def _as_text(series: pd.Series) -> pd.Series:
    """Cells as stripped text, with empty cells as missing (<NA>)."""
    text = series.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _parse_column(text: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    """Return the typed column and a mask of cells that were present but unreadable."""
    present = text.notna()
    if spec.kind is Kind.TEXT:
        return text, pd.Series(False, index=text.index)
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
    bad = present & numbers.isna()
    if spec.kind is Kind.INTEGER:
        fractional = numbers.notna() & (np.floor(numbers) != numbers)
        bad |= fractional.fillna(False)
        numbers = numbers.where(~fractional)
    return numbers.astype(PANDAS_DTYPES[spec.kind]), bad


def _reason_unreadable(spec: ColumnSpec) -> str:
    return f"cannot be read as {spec.kind.value}; expected {spec.describe_allowed()}"


def parse_table(raw: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse a table of text cells (as read from CSV or Parquet) into typed columns.

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
        if column.name in raw.columns:
            text = _as_text(raw[column.name])
        else:
            text = pd.Series(column.default, index=raw.index, dtype="string")
        if column.default is not None:
            text = text.fillna(column.default)
        values, unreadable = _parse_column(text, column)
        typed[column.name] = values
        for row in unreadable[unreadable].index:
            problems.append(
                Problem(
                    spec.name, int(row), column.name, str(text[row]), _reason_unreadable(column)
                )
            )
    return typed, problems
