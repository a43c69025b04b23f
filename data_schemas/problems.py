"""How a data problem is reported: table, row, column, value and reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a clinic data file.

    `row` counts data rows from 1 (the header is not a row), so row 1 is the first line
    after the header in a CSV file; it is `None` when the problem concerns a whole
    column or file.
    """

    table: str
    row: int | None
    column: str | None
    value: str | None
    reason: str

    def describe(self, *, show_value: bool = True) -> str:
        """One line for a person; values can be left out where output may be logged."""
        where = self.table
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        value = f" (value {self.value!r})" if show_value and self.value is not None else ""
        return f"{where}{value}: {self.reason}"


class DataValidationError(ValueError):
    """Raised when clinic data break the contract; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=_sort_key)
        super().__init__(
            f"{len(self.problems)} problem(s) in the clinic data; first: "
            + self.problems[0].describe(show_value=False)
        )


def _sort_key(problem: Problem) -> tuple[str, int, str]:
    return (problem.table, problem.row if problem.row is not None else -1, problem.column or "")
