"""Command-line options that several training commands share, declared once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

BootstrapDraws = Annotated[int, typer.Option(min=20, help="Bootstrap draws for the 95% intervals.")]
LabelExportDate = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=["%Y-%m-%d"],
        help="Export date for the labels (default: the latest date in the data).",
    ),
]
