"""`POST /v1/reports`: the clinician report for one client, as HTML (default) or PDF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from models.predictor import NotPredictableError
from service.answers.problems import PREDICTION_ERRORS, problem, problem_response
from service.answers.schemas import ProblemDetail
from service.deps import HISTORY_BODY_DOC, AuditNotesDep, HistoryBody, RequestIdDep, ServedModelDep
from service.reports import Paper, build_report, render_html, render_pdf

router = APIRouter(prefix="/v1", tags=["reports"])

HTML = "text/html"
PDF = "application/pdf"

_NOT_ACCEPTABLE = {
    "model": ProblemDetail,
    "description": "The Accept header asks for neither text/html nor application/pdf",
}


def negotiate(accept: str | None) -> str | None:
    """The media type to send for an Accept header: HTML, PDF, or `None` for neither.

    Follows RFC 9110 section 12.5.1 in the parts that matter here: q-values order the
    choices, q=0 refuses one, wildcards match, and a missing header means anything.
    """
    if accept is None or not accept.strip():
        return HTML
    choices = []
    for position, part in enumerate(accept.split(",")):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            choices.append((-quality, position, media.lower()))
    for _, _, media in sorted(choices):
        if media in (HTML, "text/*", "*/*"):
            return HTML
        if media in (PDF, "application/*"):
            return PDF
    return None


@router.post(
    "/reports",
    response_class=Response,
    responses={
        200: {
            "description": "The report: one self-contained HTML page, or a PDF",
            "content": {
                HTML: {"schema": {"type": "string"}},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        406: _NOT_ACCEPTABLE,
        **PREDICTION_ERRORS,
    },
    summary="A one-page clinician report for one client, as HTML or PDF",
    openapi_extra=HISTORY_BODY_DOC,
)
def create_report(
    history: HistoryBody,
    served: ServedModelDep,
    request_id: RequestIdDep,
    audit: AuditNotesDep,
    request: Request,
    paper: Annotated[Paper, Query(description="Page size of a PDF.")] = "a4",
) -> Response:
    """The same body as `POST /v1/predictions`. `Accept: text/html` (the default) returns a
    self-contained page (inline CSS and SVG, nothing fetched); `Accept: application/pdf`
    returns it printed on A4 or, with `paper=letter`, US Letter."""
    media_type = negotiate(request.headers.get("accept"))
    if media_type is None:
        return problem_response(
            problem(
                406,
                "Not acceptable",
                f"reports are available as {HTML} or {PDF}; the Accept header allows neither",
                slug="not-acceptable",
                request=request,
            )
        )
    client_id = history.client.client_id
    try:
        content = build_report(served, history, request_id=request_id)
    except NotPredictableError as error:
        audit.add(client_id, model_version=served.version)
        return problem_response(
            problem(422, "Cannot predict", str(error), slug="not-predictable", request=request)
        )
    audit.add_prediction(client_id, content.prediction)
    # No client id in the file name: downloads folders and browser histories keep it.
    filename = f"alliance-risk-report-session-{content.header.as_of_session}"
    # Reports hold health data: no shared cache may keep a copy.
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}
    if media_type == PDF:
        headers["Content-Disposition"] = f'inline; filename="{filename}.pdf"'
        return Response(render_pdf(content, paper=paper), media_type=PDF, headers=headers)
    return HTMLResponse(render_html(content), headers=headers)
