"""The report link on a CDS card: the report for this client and this estimate, opened
without an API key, with nothing readable in the URL; changed, expired and stale links are
refused with a problem document (a page when a browser asks). The real-browser run, across
two replicas, is in `test_replicas.py`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from cds_support import (
    BASE_URL,
    PATIENT,
    SigningKey,
    call_service,
    cds_settings,
    full_prefetch,
    hook_call,
    make_keys,
)
from fastapi.testclient import TestClient

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from service.app import create_app
from service.reports.links import ReportLinks
from training.pipeline import TrainingOutcome

LINK_KEY = "report-link-test-key-0123456789"
HTML_ACCEPT = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return make_keys()


@pytest.fixture(scope="module")
def cds(trained_model: TrainingOutcome, keys: dict[str, SigningKey]) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(keys, report_link_key=LINK_KEY))) as client:
        yield client


def card_link(cds: TestClient, keys: dict[str, SigningKey]) -> tuple[dict, str]:
    """A card for the example client, and its report link as a path on this service."""
    (card,) = call_service(cds, keys, hook_call(full_prefetch())).json()["cards"]
    url = card["links"][0]["url"]
    assert url.startswith(BASE_URL)
    return card, urlsplit(url).path


def links_made(at: float) -> ReportLinks:
    """Links sealed with the service's key, as if made at time `at`."""
    return ReportLinks(LINK_KEY.encode(), ttl_seconds=15 * 60, clock=lambda: at)


def test_the_card_links_to_the_report_for_this_client_and_this_estimate(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    card, path = card_link(cds, keys)
    page = cds.get(path, headers=HTML_ACCEPT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "client example-client-0001 after session 3" in page.text
    dropout = re.search(r"Dropout risk \w+ \((\d+%)\)", card["summary"])
    assert dropout is not None
    assert dropout[1] in page.text  # the card's estimate, e.g. "23%"
    assert page.headers["Cache-Control"] == "no-store"
    assert "style-src 'unsafe-inline'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]


def test_nothing_readable_is_in_the_link(cds: TestClient, keys: dict[str, SigningKey]) -> None:
    _, path = card_link(cds, keys)
    history = ClientHistory.model_validate(EXAMPLE_HISTORY)
    readable = [
        PATIENT,
        history.client.client_id,
        history.therapist.therapist_id,
        "anxiety",
        "2026-03",
    ]
    assert [word for word in readable if word in path] == []


def test_opening_a_link_is_audited_as_the_cds_client_it_was_issued_to(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    _, path = card_link(cds, keys)
    response = cds.get(path)
    trail = cds.app.state.audit_trail
    (record,) = [
        r for r in trail.records(limit=5) if r.request_id == response.headers["X-Request-ID"]
    ]
    assert record.caller == "report-link:cds:https://ehr.example.org"
    assert record.endpoint == "GET /v1/reports/{token}"
    assert record.client_hash == trail.client_hash("example-client-0001")


def test_a_changed_link_is_refused_with_a_problem(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    _, path = card_link(cds, keys)
    token = path.rsplit("/", 1)[1]
    changed = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (changed, token[:-4], "not-a-link"):
        refused = cds.get(f"/v1/reports/{bad}")
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/report-link-invalid"
    page = cds.get(f"/v1/reports/{changed}", headers=HTML_ACCEPT)
    assert (page.status_code, page.headers["content-type"][:9]) == (404, "text/html")
    assert "Report link not valid" in page.text


def test_a_link_from_another_key_is_refused(
    cds: TestClient, trained_model: TrainingOutcome
) -> None:
    other = ReportLinks(b"another-deployment-key-0123456789", ttl_seconds=900)
    token = other.seal(
        ClientHistory.model_validate(EXAMPLE_HISTORY),
        model_version=trained_model.version,
        issued_to="x",
    )
    assert cds.get(f"/v1/reports/{token}").status_code == 404


def test_an_expired_link_is_refused_with_410(
    cds: TestClient, trained_model: TrainingOutcome
) -> None:
    history = ClientHistory.model_validate(EXAMPLE_HISTORY)
    fresh = links_made(time.time() - 14 * 60).seal(
        history, model_version=trained_model.version, issued_to="cds:x"
    )
    stale = links_made(time.time() - 16 * 60).seal(
        history, model_version=trained_model.version, issued_to="cds:x"
    )
    assert cds.get(f"/v1/reports/{fresh}").status_code == 200
    expired = cds.get(f"/v1/reports/{stale}", headers=HTML_ACCEPT)
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert cds.get(f"/v1/reports/{stale}").json()["type"] == "/problems/report-link-expired"


def test_a_link_whose_model_no_longer_serves_is_refused_with_409(cds: TestClient) -> None:
    history = ClientHistory.model_validate(EXAMPLE_HISTORY)
    token = links_made(time.time()).seal(
        history, model_version="an-older-version", issued_to="cds:x"
    )
    refused = cds.get(f"/v1/reports/{token}")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/report-link-stale"
