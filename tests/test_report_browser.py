"""The report in a real browser: headless Chromium loads it, draws it and prints it.

`make test` installs Debian's chromium when it can. Without a browser these tests are
skipped with the reason shown, except under CI=true, where a missing browser fails them:
CI must prove the page renders.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from browser import console_messages, run_chromium
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader
from report_cases import stress_history

from data_schemas.examples import EXAMPLE_HISTORY
from service.app import create_app
from service.settings import Settings
from training.pipeline import TrainingOutcome

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def report_file(trained_model: TrainingOutcome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example client's report, from the running service, saved as a local file."""
    with TestClient(create_app(Settings())) as client:
        response = client.post("/v1/reports", json=EXAMPLE_HISTORY)
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(response.text, encoding="utf-8")
    return path


def test_chromium_renders_the_report_without_console_errors(
    chromium: str, report_file: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report-screenshot.png"
    screenshot.unlink(missing_ok=True)
    shot = run_chromium(
        chromium, f"--screenshot={screenshot}", "--window-size=900,1300", report_file.as_uri()
    )
    assert screenshot.exists(), shot.stderr[-2000:]
    assert console_messages(shot.stderr) == []

    image = Image.open(screenshot).convert("L")
    histogram = image.histogram()
    pixels = image.width * image.height
    assert (image.width, image.height) == (900, 1300)
    assert sum(histogram[:128]) / pixels > 0.01, "the page looks blank: almost no dark pixels"
    assert sum(1 for count in histogram if count) > 64, "the page has too few shades to be drawn"

    dom = run_chromium(chromium, "--dump-dom", report_file.as_uri())
    title = re.search(r"<title>(.*?)</title>", dom.stdout, flags=re.DOTALL)
    assert title is not None, dom.stderr[-2000:]
    assert html.unescape(title[1]) == (
        "Early-session risk report: client example-client-0001 after session 3"
    )
    assert "Estimated risks after session 3" in dom.stdout
    assert console_messages(dom.stderr) == []


@pytest.mark.parametrize(("paper", "size"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_chromium_prints_the_summary_on_one_page(
    chromium: str,
    trained_model: TrainingOutcome,
    tmp_path: Path,
    paper: str,
    size: tuple[int, int],
) -> None:
    with TestClient(create_app(Settings())) as client:
        page = client.post("/v1/reports", json=stress_history()).text
    # The served page leaves the paper to the printer; pin it as a user's print dialog would.
    page = page.replace("</style>", f"@page {{ size: {paper}; }}</style>", 1)
    source = tmp_path / "report.html"
    source.write_text(page, encoding="utf-8")
    printed = tmp_path / "report.pdf"
    run = run_chromium(
        chromium, "--no-pdf-header-footer", f"--print-to-pdf={printed}", source.as_uri()
    )
    assert printed.exists(), run.stderr[-2000:]
    reader = PdfReader(io.BytesIO(printed.read_bytes()))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size
    first, second = (page.extract_text() for page in reader.pages[:2])
    assert "Limits of this estimate" in first
    assert "Details: how each factor" not in first
    assert "Details: how each factor" in second
