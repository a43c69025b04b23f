"""Clinician explanation reports: one page a therapist can read in a minute, HTML or PDF.

`build_report` gathers what a report says (content.py), `render_html` and `render_pdf`
lay it out (render.py, templates/). Sessions, factor sentences, conversation points and
charts each live in their own module.
"""

from service.reports.content import ReportContent, build_report
from service.reports.render import Paper, render_html, render_pdf

__all__ = ["Paper", "ReportContent", "build_report", "render_html", "render_pdf"]
