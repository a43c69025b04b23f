"""Clinician reports: what the page says, that it is self-contained, and that it prints."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import html
import io
import itertools
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from report_cases import stress_history
from typer.testing import CliRunner

from alliance_risk_cli import app as cli
from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from models.predictor import SYNTHETIC_DATA_NOTICE
from service.answers.wording import DECISION_SUPPORT_NOTICE, one_in, percent
from service.app import create_app
from service.model.holder import ModelHolder, ServedModel
from service.reports import build_report, render_html, render_pdf
from service.reports.factors import MIN_CONTRIBUTION, TOP_FACTORS
from service.settings import Settings
from training.pipeline import TrainingOutcome
from training.synthetic import SyntheticCohort

PDF = "application/pdf"


class _Page(HTMLParser):
    """Collects what the self-containment and accessibility tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.headings: list[int] = []
        self.images: list[dict[str, str | None]] = []
        self.svgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in {"src", "href", "xlink:href", "action"}]
        if "id" in attributes:
            self.ids.append(attributes["id"] or "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if attributes.get("role") == "img":
            self.images.append(attributes)
        if tag == "svg":
            self.svgs.append(attributes)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def summary_sheet(page: str) -> str:
    return page[page.index('<article class="sheet summary"') : page.index("</article>")]


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def served(trained_model: TrainingOutcome) -> ServedModel:
    holder = ModelHolder(Settings())
    assert holder.load(), holder.reason
    return holder.get()


@pytest.fixture(scope="module")
def prediction(client: TestClient) -> dict[str, Any]:
    return client.post("/v1/predictions", json=EXAMPLE_HISTORY).json()


@pytest.fixture(scope="module")
def report_page(client: TestClient) -> str:
    response = client.post("/v1/reports", json=EXAMPLE_HISTORY)
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture(scope="module")
def report_pdf(client: TestClient) -> bytes:
    response = client.post("/v1/reports", json=EXAMPLE_HISTORY, headers={"Accept": PDF})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PDF
    return response.content


# The API


def test_report_is_html_by_default_and_never_cached(client: TestClient) -> None:
    response = client.post("/v1/reports", json=EXAMPLE_HISTORY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["vary"] == "Accept"
    assert response.headers["X-Request-ID"] in response.text


def test_report_refuses_a_media_type_it_cannot_make_with_406(client: TestClient) -> None:
    response = client.post(
        "/v1/reports", json=EXAMPLE_HISTORY, headers={"Accept": "application/json"}
    )
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Not acceptable"
    assert "text/html" in body["detail"]
    assert PDF in body["detail"]


def test_report_takes_the_prediction_contract_and_its_errors(client: TestClient) -> None:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["sessions"][1]["session_number"] = 7
    response = client.post("/v1/reports", json=body)
    assert response.status_code == 422
    pointers = [error["pointer"] for error in response.json()["errors"]]
    assert "/sessions/1/session_number" in pointers
    no_sessions = {**copy.deepcopy(EXAMPLE_HISTORY), "sessions": []}
    assert client.post("/v1/reports", json=no_sessions).status_code == 422


# What the page says


def test_report_states_both_probabilities_in_words_and_numbers(
    report_page: str, prediction: dict[str, Any]
) -> None:
    text = html.unescape(summary_sheet(report_page))
    for outcome, title in (
        ("dropout", "Premature dropout"),
        ("violence", "Violence toward others"),
    ):
        result = prediction["predictions"][outcome]
        assert title in text
        assert percent(result["probability"]) in text
        assert one_in(result["probability"]) in text
        assert f"{result['band']} band" in text
        assert f"the estimate for {result['percentile']:.0f}% of clients after session 3" in text


def test_report_explains_the_largest_contributions_of_each_outcome(
    served: ServedModel, prediction: dict[str, Any]
) -> None:
    history = ClientHistory.model_validate(EXAMPLE_HISTORY)
    content = build_report(served, history, request_id="test")
    page = html.unescape(render_html(content))
    for outcome, result in prediction["predictions"].items():
        expected = [
            c["feature"]
            for c in result["explanation"]["contributions"]
            if abs(c["contribution"]) >= MIN_CONTRIBUTION and c["group"] == "episode"
        ][:TOP_FACTORS]
        factors = content.factors[outcome]
        assert [f.feature for f in factors] == expected
        for factor in factors:
            assert factor.sentence in page
            assert factor.sentence.endswith(("dropout risk.", "toward others."))


def test_synthetic_notice_is_shown_when_the_model_learned_from_synthetic_data(
    report_page: str, served: ServedModel
) -> None:
    assert SYNTHETIC_DATA_NOTICE in html.unescape(summary_sheet(report_page))
    real = copy.copy(served.predictor)
    real.metadata = dataclasses.replace(served.predictor.metadata, synthetic_data=False)
    content = build_report(
        dataclasses.replace(served, predictor=real),
        ClientHistory.model_validate(EXAMPLE_HISTORY),
        request_id="test",
    )
    assert SYNTHETIC_DATA_NOTICE not in html.unescape(render_html(content))


def test_report_never_reads_as_a_diagnosis_or_a_verdict_on_the_person(report_page: str) -> None:
    text = html.unescape(summary_sheet(report_page))
    assert DECISION_SUPPORT_NOTICE in text
    assert "not a diagnosis" in text
    for verdict in (" is violent", "will be violent", "violent person", "dangerous"):
        assert verdict not in text.lower()


def test_report_shows_validation_figures_and_appends_the_model_card(
    report_page: str, served: ServedModel
) -> None:
    text = html.unescape(report_page)
    auroc = served.predictor.metadata.headline_metrics["dropout"]["auroc"]
    assert f"{auroc['value']:.2f} ({auroc['lower']:.2f} to {auroc['upper']:.2f})" in text
    assert "Appendix: model card" in text
    assert "Model card: alliance-risk" in text


# Self-contained and accessible


def test_report_fetches_nothing_from_outside_itself(report_page: str) -> None:
    page = parse(report_page)
    assert page.links, "the inline SVG charts refer to their own definitions"
    assert all(link.startswith("#") for link in page.links), page.links
    assert "script" not in page.tags
    assert "link" not in page.tags
    assert "iframe" not in page.tags
    assert not re.search(r"url\((?!#)", report_page), "CSS may only refer to inline SVG ids"
    assert "@import" not in report_page
    assert "@font-face" not in report_page


def test_charts_have_text_alternatives_and_headings_are_in_order(report_page: str) -> None:
    page = parse(report_page)
    assert len(page.images) == 5  # two gauges, the sessions, two waterfalls
    assert all(len(image.get("aria-label") or "") > 40 for image in page.images)
    assert all(svg.get("aria-hidden") == "true" for svg in page.svgs)
    assert page.headings[0] == 1
    assert page.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(page.headings))
    assert len(page.ids) == len(set(page.ids)), "inline charts must not share element ids"
    assert '<html lang="en">' in report_page


# PDF


def test_pdf_has_a_one_page_summary_a_details_page_and_the_model_card(
    report_pdf: bytes, prediction: dict[str, Any]
) -> None:
    pages = pdf_pages(report_pdf)
    assert len(pages) >= 3
    first = pages[0]
    for result in prediction["predictions"].values():
        assert percent(result["probability"]) in first
    assert "Limits of this estimate" in first
    assert pages[1].lstrip().startswith("Details")
    assert pages[2].lstrip().startswith("Appendix: model card")
    box = PdfReader(io.BytesIO(report_pdf)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4


@pytest.mark.parametrize(("paper", "size"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_a_crowded_summary_still_fits_one_page(
    served: ServedModel, paper: str, size: tuple[int, int]
) -> None:
    content = build_report(
        served,
        ClientHistory.model_validate(stress_history()),
        request_id="test",
        generated_at=dt.datetime(2026, 4, 14, tzinfo=dt.UTC),
    )
    data = render_pdf(content, paper=paper)
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size
    first, second = (page.extract_text() for page in reader.pages[:2])
    assert "Limits of this estimate" in first
    assert second.lstrip().startswith("Details")


def test_pdf_on_letter_paper_by_query(client: TestClient) -> None:
    response = client.post(
        "/v1/reports?paper=letter", json=EXAMPLE_HISTORY, headers={"Accept": PDF}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith('session-3.pdf"')
    box = PdfReader(io.BytesIO(response.content)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)


# The command line


def test_cli_writes_the_report_for_one_client_of_a_folder(
    trained_model: TrainingOutcome,
    small_cohort: SyntheticCohort,
    small_cohort_dir: Path,
    tmp_path: Path,
) -> None:
    client_id = str(small_cohort.tables.clients["client_id"].iloc[0])
    out = tmp_path / "report.html"
    runner = CliRunner()
    arguments = ["report", "--data", str(small_cohort_dir), "--client", client_id, "--as-of", "2"]
    result = runner.invoke(cli, [*arguments, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "after session 2" in result.output
    assert f"Client <strong>{client_id}</strong> &middot; after session 2" in out.read_text()
    refused = runner.invoke(cli, [*arguments, "--out", str(tmp_path / "report.docx")])
    assert refused.exit_code == 1
    assert "must end in .html or .pdf" in refused.output
