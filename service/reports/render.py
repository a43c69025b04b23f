"""Lay a report out as one self-contained HTML page, and print that page to PDF.

The HTML carries its CSS and SVG charts inline and refers to nothing outside itself, so
it can be mailed, archived or opened offline. PDFs are printed by WeasyPrint rather than a
headless browser: it is a Python package needing only the Pango system library, so the
service prints in-process, with no browser to install, sandbox or keep alive, and the
same HTML serves both formats.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import jinja2
from markupsafe import Markup

from service.reports.content import ReportContent

TEMPLATES = Path(__file__).parent / "templates"

Paper = Literal["a4", "letter"]
PAPER_SIZES: dict[str, str] = {"a4": "A4", "letter": "letter"}

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["svg"] = Markup
_ENVIRONMENT.filters["lower_first"] = lambda text: text[:1].lower() + text[1:]


def render_html(content: ReportContent, *, paper: Paper | None = None) -> str:
    """The report as one HTML document; `paper` fixes the printed page size (else the
    printer's choice: the layout fits both A4 and US Letter)."""
    return _ENVIRONMENT.get_template("report.html.j2").render(
        r=content,
        model_card=Markup(content.model_card_html),
        page_size=PAPER_SIZES[paper] if paper else None,
        # Printed in a CSS string in every page's margin: keep only characters safe there.
        request_label=re.sub(r"[^A-Za-z0-9._:-]", "", content.header.request_id),
    )


def _refuse_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    """WeasyPrint must never reach the network or the disk for a report: all is inline."""
    raise ValueError(f"a report is self-contained; refusing to fetch {url}")


def render_pdf(content: ReportContent, *, paper: Paper = "a4") -> bytes:
    """The same page printed to PDF on A4 or US Letter, tagged (PDF/UA-1) so that screen
    readers get its language, title, headings and reading order."""
    import weasyprint

    html = weasyprint.HTML(string=render_html(content, paper=paper), url_fetcher=_refuse_fetch)
    return html.write_pdf(pdf_variant="pdf/ua-1")
