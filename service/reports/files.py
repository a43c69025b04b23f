"""`alliance-risk report`: a report for one client of a clinic data folder, written to a file.

The command line stays thin: it calls `write_report`, which reads the folder, takes the
client's history exactly as the API would receive it, loads the model the way the
service does (`ModelHolder`, with its self-check) and writes HTML or PDF by the suffix.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from data_schemas.histories import history_from_tables
from data_schemas.tables import load_clinic_data
from service.model.holder import ModelHolder, ModelNotReadyError
from service.reports.content import ReportContent, build_report
from service.reports.render import Paper, render_html, render_pdf
from service.settings import Settings

SUFFIXES = {".html": "html", ".htm": "html", ".pdf": "pdf"}


def report_format(out: Path) -> str:
    """'html' or 'pdf' from the output file's suffix; anything else is refused."""
    try:
        return SUFFIXES[out.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{out.name}: the report file must end in .html or .pdf, which picks its format"
        ) from None


def write_report(
    data: Path,
    client_id: str,
    out: Path,
    *,
    settings: Settings,
    as_of: int | None = None,
    paper: Paper = "a4",
) -> ReportContent:
    """Write the report of `client_id` after session `as_of` (default: their latest, up to
    the model's last landmark) with the model `settings.model_uri` names, and return what
    it says.

    Raises `DataValidationError` for a folder that breaks the contract,
    `HistoryNotFoundError` for an unknown client or session, `ModelNotReadyError` when the
    model cannot be loaded and `NotPredictableError` when it cannot predict.
    """
    kind = report_format(out)
    history = history_from_tables(load_clinic_data(data), client_id, as_of)
    holder = ModelHolder(settings)
    if not holder.load():
        raise ModelNotReadyError(holder.reason)
    content = build_report(holder.get(), history, request_id=f"cli-{uuid.uuid4().hex}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "pdf":
        out.write_bytes(render_pdf(content, paper=paper))
    else:
        out.write_text(render_html(content), encoding="utf-8")
    return content
