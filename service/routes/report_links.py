"""`GET /v1/reports/{token}`: the report a CDS card links to, opened in a clinician's browser.

The token is the only credential: it was sealed for one client's history and one card
(`service.reports.links`), so the browser needs no API key, and nothing readable is in
the URL. Refusals are problem documents, as a page when a browser asks: 404 for a link
that was changed or is not one, 410 once it has expired, 409 when the model that gave the
card's estimate no longer serves (the report would show a different one).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from models.predictor import NotPredictableError
from service.answers.problems import problem, problem_page, problem_response, wants_html
from service.answers.schemas import ProblemDetail
from service.deps import AuditNotesDep, HolderDep, ReportLinksDep, RequestIdDep
from service.model.holder import ModelNotReadyError
from service.reports import build_report, render_html
from service.reports.links import LinkReader, ReportLinkExpiredError, ReportLinkInvalidError

router = APIRouter(prefix="/v1", tags=["reports"])

#: The report's own inline CSS and SVG may apply; nothing may be fetched, framed or run.
REPORT_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_PROBLEM = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}},
    "text/html": {"schema": {"type": "string"}},
}


def _refused(
    request: Request, detail: ProblemDetail, headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request):
        return problem_page(detail, headers)
    return problem_response(detail, headers)


@router.get(
    "/reports/{token}",
    response_class=HTMLResponse,
    responses={
        200: {"description": "The clinician report, one self-contained HTML page"},
        404: {"description": "Not a report link, or one that was changed", "content": _PROBLEM},
        409: {
            "description": "The model behind the card's estimate no longer serves",
            "content": _PROBLEM,
        },
        410: {"description": "The link has expired", "content": _PROBLEM},
        422: {"description": "The sealed history cannot be predicted from", "content": _PROBLEM},
        503: {
            "description": "No model is loaded, or the call could not be audited",
            "content": _PROBLEM,
        },
    },
    summary="The clinician report a CDS card links to, for a browser (no API key: the link is the credential)",
)
def open_report_link(
    token: Annotated[str, Path(description="The sealed token from the card's link.")],
    request: Request,
    links: ReportLinksDep,
    holder: HolderDep,
    request_id: RequestIdDep,
    audit: AuditNotesDep,
) -> Response:
    try:
        sealed = links.open(token)
    except ReportLinkExpiredError as error:
        return _refused(
            request,
            problem(
                410, "Report link expired", str(error), slug="report-link-expired", request=request
            ),
        )
    except ReportLinkInvalidError as error:
        return _refused(
            request,
            problem(
                404,
                "Report link not valid",
                str(error),
                slug="report-link-invalid",
                request=request,
            ),
        )
    request.state.caller = LinkReader(f"report-link:{sealed.issued_to}")
    try:
        served = holder.get()
    except ModelNotReadyError as error:
        detail = problem(
            503, "Model not ready", str(error), slug="model-not-ready", request=request
        )
        return _refused(request, detail, {"Retry-After": "30"})
    if served.version != sealed.model_version:
        return _refused(
            request,
            problem(
                409,
                "Model changed",
                "the model that gave the card's estimate no longer serves; open the client's "
                "chart in the EHR again for a new card and link",
                slug="report-link-stale",
                request=request,
            ),
        )
    client_id = sealed.history.client.client_id
    try:
        content = build_report(served, sealed.history, request_id=request_id)
    except NotPredictableError as error:
        audit.add(client_id, model_version=served.version)
        return _refused(
            request,
            problem(422, "Cannot predict", str(error), slug="not-predictable", request=request),
        )
    audit.add_prediction(client_id, content.prediction)
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": REPORT_CONTENT_SECURITY_POLICY,
    }
    return HTMLResponse(render_html(content), headers=headers)
