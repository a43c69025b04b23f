"""No health data or identifiers in logs or error bodies.

A real server (`alliance-risk serve`) gets requests with distinctive marker values in every
field, valid and invalid, on every client-data endpoint; none of the markers may appear in
anything it logged, nor in any 4xx/5xx body (which name the offending field by path only).
"""

from __future__ import annotations

import copy
import json
import re
import signal
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from credentials import CDS_SETTINGS, CLINIC_KEY, cds_token, key_header
from security_env import server_environment
from servers import RunningServer, start_server

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.fhir import bundle_from_history
from data_schemas.records import ClientHistory
from training.pipeline import TrainingOutcome

MARK = "MRKq7z"
NUMBER_MARKERS = ("987654.321", "4711")
ACCESS_FIELDS = {"time", "level", "message", "request_id", "route", "status", "latency_ms"}


def marked_history() -> dict:
    """A valid history whose identifiers are all markers."""
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"]["client_id"] = f"{MARK}-client"
    body["client"]["therapist_id"] = f"{MARK}-therapist"
    body["therapist"]["therapist_id"] = f"{MARK}-therapist"
    return body


def marked_invalid_history() -> dict:
    """Markers in every kind of field, several of them breaking the contract."""
    body = marked_history()
    body["client"]["primary_problem"] = f"{MARK}-problem"
    body["client"]["age_years"] = 4711
    body["client"]["sex"] = f"{MARK}-sex"
    body["client"]["note"] = f"{MARK}-extra-field"
    body["therapist"]["orientation"] = f"{MARK}-orientation"
    body["sessions"][0]["alliance_score"] = 987654.321
    body["sessions"][1]["alliance_instrument"] = f"{MARK}-instrument"
    body["sessions"][2]["session_date"] = f"{MARK}-date"
    return body


def marked_bundle(history: dict) -> dict:
    return json.loads(bundle_from_history(ClientHistory.model_validate(history)).model_dump_json())


@pytest.fixture(scope="module")
def server(
    trained_model: TrainingOutcome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("privacy")
    env = server_environment(
        audit_database_url=f"sqlite:///{folder / 'audit.db'}",
        audit_hmac_key="privacy-test-key-0123456789",
        clinic_key=CLINIC_KEY,
        max_body_bytes="100000",
        **{
            name: json.dumps(value) if isinstance(value, list) else value
            for name, value in CDS_SETTINGS.items()
        },
    )
    running = start_server(env, folder / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fhir_stub() -> Iterator[str]:
    """An EHR FHIR server on loopback that knows no one: every read gets 404."""

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    stub = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{stub.server_address[1]}"
    stub.shutdown()
    stub.server_close()


def cds_call(fhir_server: str) -> dict:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "fhirAuthorization": {
            "access_token": f"{MARK}-fhir-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "alliance-risk",
        },
        "context": {"userId": f"Practitioner/{MARK}-user", "patientId": f"{MARK}-patient"},
    }


def exchanges(url: str, fhir_server: str) -> list[httpx.Response]:
    """Every kind of call, each carrying markers."""
    headers = key_header()
    fhir = {**headers, "content-type": "application/fhir+json"}
    bad_bundle = marked_bundle(marked_history())
    bad_bundle["entry"][0]["resource"]["birthDate"] = f"{MARK}-birth"
    bad_bundle["entry"][0]["resource"]["gender"] = f"{MARK}-gender"
    with httpx.Client(base_url=url, timeout=30) as http:
        return [
            http.post("/v1/predictions", json=marked_history(), headers=headers),
            http.post("/v1/predictions", json=marked_invalid_history(), headers=headers),
            http.post(
                f"/v1/predictions?client_id={MARK}-query", json=marked_history(), headers=headers
            ),
            http.post(
                "/v1/predictions:batch",
                json={"items": [marked_history(), marked_invalid_history()]},
                headers=headers,
            ),
            http.post("/v1/reports", json=marked_history(), headers=headers),
            http.post("/v1/reports", json=marked_invalid_history(), headers=headers),
            http.post(
                "/fhir/RiskAssessment/$evaluate",
                content=json.dumps(marked_bundle(marked_history())),
                headers=fhir,
            ),
            http.post(
                "/fhir/RiskAssessment/$evaluate", content=json.dumps(bad_bundle), headers=fhir
            ),
            http.post(
                "/v1/predictions",
                content=f'{{"client": {{"client_id": "{MARK}-broken-json',
                headers={**headers, "content-type": "application/json"},
            ),
            http.post(f"/v1/{MARK}-path", json=marked_history(), headers=headers),
            http.post("/v1/predictions", json=marked_history(), headers=key_header(f"{MARK}-key")),
            http.post(
                "/v1/predictions",
                json=marked_history(),
                headers={"Authorization": f"Bearer {MARK}.token.x"},
            ),
            http.post(
                "/cds-services/alliance-risk-patient-view",
                json={"hook": "patient-view", "context": {"patientId": f"{MARK}-patient"}},
                headers={"Authorization": f"Bearer {MARK}.cds.jwt"},
            ),
            http.post(
                "/cds-services/alliance-risk-patient-view",
                json=cds_call(fhir_server),
                headers={
                    "Authorization": f"Bearer {cds_token('/cds-services/alliance-risk-patient-view')}"
                },
            ),
            http.post(
                "/v1/predictions:batch",
                json={"items": [marked_history()] * 300},
                headers=headers,
            ),
        ]


def markers_in(text: str) -> list[str]:
    """The markers in `text`; a number counts only as a whole number, not inside a request
    id's hex digits (a random id holds "4711" about once in 2,000 ids)."""
    numbers = [
        m for m in NUMBER_MARKERS if re.search(rf"(?<![0-9a-f.]){re.escape(m)}(?![0-9a-f])", text)
    ]
    return [MARK] * (MARK in text) + numbers


def test_marker_values_appear_in_no_log_line_and_no_error_body(
    server: RunningServer, fhir_stub: str
) -> None:
    responses = exchanges(server.url, fhir_stub)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 4, statuses
    assert {401, 404, 413, 422} <= set(statuses), statuses
    for response in responses:
        if response.status_code >= 400:
            assert markers_in(response.text) == [], (response.request.url.path, response.text)
        if response.status_code == 200 and response.request.url.path.endswith(":batch"):
            for item in response.json()["results"]:
                assert markers_in(json.dumps(item.get("error") or {})) == []
    server.stop(signal.SIGTERM)
    log = server.log()
    assert markers_in(log) == []
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [
        line for line in lines if line.get("message") == "request" and line["route"] != "/readyz"
    ]
    assert len(access) == len(responses)
    assert all(set(line) >= ACCESS_FIELDS for line in access)
    assert all(line["model_version"] == "1" for line in access)
