"""`alliance-risk validate`, and how every command shows data problems.

Each package contributes its own commands (`data_schemas`, `training`, `service`); the
top-level `alliance_risk_cli` only assembles them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from data_schemas.problems import DataValidationError, Problem

app = typer.Typer()
console = Console()
errors = Console(stderr=True)


def print_problems(problems: list[Problem]) -> None:
    """Every problem as a table row on stderr: table, row, column, value and reason."""
    table = Table(title=f"{len(problems)} problem(s) found", show_lines=False)
    for heading in ("table", "row", "column", "value", "reason"):
        table.add_column(heading, overflow="fold")
    for problem in problems:
        table.add_row(
            problem.table,
            "" if problem.row is None else str(problem.row),
            problem.column or "",
            "" if problem.value is None else problem.value,
            problem.reason,
        )
    errors.print(table)
    errors.print("Rows are counted from 1, after the header line. Nothing was used.")


@app.command()
def validate(
    data: Annotated[
        Path,
        typer.Argument(
            help="Folder holding clients, therapists and sessions, each as a .csv or .parquet "
            "file or a partitioned Parquet dataset folder.",
            exists=True,
            file_okay=False,
        ),
    ],
    require_outcomes: Annotated[
        bool, typer.Option(help="Also require the outcome columns needed for training.")
    ] = False,
) -> None:
    """Check a clinic data folder against the data contract and list every problem."""
    from data_schemas.tables import load_clinic_data

    try:
        tables = load_clinic_data(data, require_outcomes=require_outcomes)
    except DataValidationError as error:
        print_problems(error.problems)
        raise typer.Exit(code=1) from None
    console.print(
        f"[green]valid[/green]: {len(tables.clients)} clients, {len(tables.therapists)} "
        f"therapists, {len(tables.sessions)} sessions"
        + (" (with outcomes)" if tables.has_outcomes else "")
    )
