"""CDS Hooks 2.0: discovery, cards, prefetch and FHIR-server fallback, JWT trust, feedback.

Responses are checked against the specification's rules (`cds_support.check_*`); a fake
EHR FHIR server on 127.0.0.1 stands in for the EHR when prefetch is missing.
"""

from __future__ import annotations

import copy
import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cds_support import (
    ACCESS_TOKEN,
    BASE_URL,
    ENDPOINT,
    ISSUER,
    PATIENT,
    SERVICE,
    FakeFhirServer,
    SigningKey,
    bearer,
    call_service,
    cds_settings,
    check_cds_response,
    check_discovery,
    closed_port,
    ehr_resources,
    fhir_access,
    full_prefetch,
    hook_call,
    make_keys,
    make_token,
    of_type,
    searchset,
    unsigned_token,
)
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data_schemas.fhir import codes
from models.predictor import SYNTHETIC_DATA_NOTICE
from service.app import create_app
from service.ehr.cds.records import FeedbackRecord, IssuedCard
from training.pipeline import TrainingOutcome


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return make_keys()


@pytest.fixture(scope="module")
def cds(trained_model: TrainingOutcome, keys: dict[str, SigningKey]) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(keys))) as client:
        yield client


# --- discovery and cards ---------------------------------------------------------------------


def test_discovery_follows_the_specification_and_needs_no_token(cds: TestClient) -> None:
    response = cds.get("/cds-services")
    assert response.status_code == 200
    document = response.json()
    check_discovery(document)
    (service,) = document["services"]
    assert (service["id"], service["hook"]) == (SERVICE, "patient-view")
    assert set(service["prefetch"]) == {
        "patient",
        "episodes",
        "sessions",
        "ratings",
        "questionnaires",
    }
    assert "69737-5" in service["prefetch"]["ratings"]
    assert "WAI-SR" in service["prefetch"]["ratings"]


def test_a_card_names_both_risks_the_model_and_the_factors(
    cds: TestClient, keys: dict[str, SigningKey], trained_model: TrainingOutcome
) -> None:
    response = call_service(cds, keys, hook_call(full_prefetch()))
    assert response.status_code == 200, response.text
    document = response.json()
    check_cds_response(document)
    (card,) = document["cards"]
    assert trained_model.version in card["source"]["label"]
    assert card["summary"].startswith("TEST MODEL (synthetic data): Dropout risk")
    assert "violence risk" in card["summary"]
    assert card["detail"].count("%") >= 4  # both probabilities and percentiles
    assert "Of this episode so far, what drives these estimates most" in card["detail"]
    assert SYNTHETIC_DATA_NOTICE in card["detail"]
    (link,) = card["links"]
    assert link["url"].startswith(f"{BASE_URL}/v1/reports/")
    assert "15 minutes" in link["label"]


def test_a_card_comes_well_within_half_a_second(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    # CDS Hooks: services "SHOULD respond quickly (on the order of 500 ms.)"; the best of
    # three calls keeps a busy test machine from failing the test.
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        assert call_service(cds, keys, hook_call(full_prefetch())).status_code == 200
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.25


def test_the_indicator_follows_the_higher_band(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    card = call_service(cds, keys, hook_call(full_prefetch())).json()["cards"][0]
    bands = set(re.findall(r"\| (low|moderate|high) \|", card["detail"]))
    level = max(bands, key=["low", "moderate", "high"].index)
    assert card["indicator"] == {"low": "info", "moderate": "warning", "high": "critical"}[level]


def test_a_patient_without_a_psychotherapy_episode_gets_no_card_and_the_reason_is_logged(
    cds: TestClient, keys: dict[str, SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    resources = [r for r in ehr_resources() if r["resourceType"] != "EpisodeOfCare"]
    with caplog.at_level(logging.INFO, logger="alliance_risk.cds"):
        response = call_service(cds, keys, hook_call(full_prefetch(resources)))
    assert response.status_code == 200
    assert response.json() == {"cards": []}
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "alliance_risk.cds")
    assert "no card (the patient has no psychotherapy episode)" in logged
    assert PATIENT not in logged


def test_a_client_without_sessions_yet_gets_no_card(
    cds: TestClient, keys: dict[str, SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    resources = of_type(ehr_resources(), "Patient", "Practitioner", "EpisodeOfCare")
    with caplog.at_level(logging.INFO, logger="alliance_risk.cds"):
        response = call_service(cds, keys, hook_call(full_prefetch(resources)))
    assert response.json() == {"cards": []}
    assert any("no sessions given" in r.getMessage() for r in caplog.records)


def test_ehr_data_that_break_the_contract_get_an_operation_outcome(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    resources = ehr_resources()
    of_type(resources, "Observation")[0]["valueQuantity"]["value"] = 987654
    response = call_service(cds, keys, hook_call(full_prefetch(resources)))
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["prefetch.ratings.entry[0].resource.valueQuantity.value"]
    assert "987654" not in response.text


def test_wrong_hook_and_unknown_service_are_refused(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    wrong_hook = call_service(cds, keys, hook_call(full_prefetch(), hook="order-sign"))
    assert wrong_hook.status_code == 400
    unknown = cds.post(
        "/cds-services/nope",
        json=hook_call(full_prefetch()),
        headers=bearer(make_token(keys["ES384"], aud=f"{BASE_URL}/cds-services/nope")),
    )
    assert unknown.status_code == 404


# --- prefetch missing: the EHR's FHIR server, or 412 ---------------------------------------


def test_without_prefetch_the_service_reads_the_fhir_server(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    with_prefetch = call_service(cds, keys, hook_call(full_prefetch())).json()["cards"][0]
    with FakeFhirServer(ehr_resources()) as ehr:
        response = call_service(cds, keys, hook_call(**fhir_access(ehr.base)))
    assert response.status_code == 200, response.text
    check_cds_response(response.json())
    (card,) = response.json()["cards"]
    assert card["summary"] == with_prefetch["summary"]
    paths = [path for path, _, _ in ehr.requests]
    assert f"/fhir/Patient/{PATIENT}" in paths
    assert paths.count("/fhir/Encounter") == 2  # the second page of sessions was followed
    assert all(auth == f"Bearer {ACCESS_TOKEN}" for _, _, auth in ehr.requests)
    ratings = next(query for path, query, _ in ehr.requests if path == "/fhir/Observation")
    assert ratings["patient"] == [PATIENT]


def test_only_the_missing_keys_are_fetched_and_the_therapist_when_not_included(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    prefetch = full_prefetch()
    prefetch["episodes"] = searchset(of_type(ehr_resources(), "EpisodeOfCare"))
    del prefetch["ratings"]
    with FakeFhirServer(ehr_resources()) as ehr:
        response = call_service(cds, keys, hook_call(prefetch, **fhir_access(ehr.base)))
    assert response.status_code == 200, response.text
    assert sorted(path for path, _, _ in ehr.requests) == [
        "/fhir/Observation",
        "/fhir/Practitioner/example-therapist-01",
    ]


def test_without_prefetch_or_fhir_server_the_answer_is_412(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    prefetch = full_prefetch()
    del prefetch["sessions"]
    response = call_service(cds, keys, hook_call(prefetch))
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "sessions" in response.json()["issue"][0]["diagnostics"]


def test_an_operation_outcome_in_place_of_prefetch_counts_as_missing(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    prefetch = full_prefetch()
    prefetch["ratings"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    assert call_service(cds, keys, hook_call(prefetch)).status_code == 412


def test_a_fhir_server_that_is_down_gives_412_quickly(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    started = time.perf_counter()
    response = call_service(
        cds, keys, hook_call(**fhir_access(f"http://127.0.0.1:{closed_port()}/fhir"))
    )
    assert response.status_code == 412
    assert time.perf_counter() - started < 1.0
    assert "could not be read" in response.json()["issue"][0]["diagnostics"]


def test_a_fhir_server_that_never_answers_times_out_with_412(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the kernel; nothing ever answers
    try:
        started = time.perf_counter()
        port = silent.getsockname()[1]
        response = call_service(
            cds, keys, hook_call(**fhir_access(f"http://127.0.0.1:{port}/fhir"))
        )
        elapsed = time.perf_counter() - started
    finally:
        silent.close()
    assert response.status_code == 412
    assert 0.9 < elapsed < 3.0  # the configured 1 s timeout, not a hang


def test_a_plain_http_fhir_server_off_this_machine_is_refused(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    response = call_service(cds, keys, hook_call(**fhir_access("http://ehr.example.org/fhir")))
    assert response.status_code == 412
    assert "https" in response.json()["issue"][0]["diagnostics"]


# --- the CDS client's JWT -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_valid_jwt_is_accepted(cds: TestClient, keys: dict[str, SigningKey], alg: str) -> None:
    response = cds.post(
        ENDPOINT, json=hook_call(full_prefetch()), headers=bearer(make_token(keys[alg]))
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda k: make_token(k["ES384"], lifetime=-120), "expired", id="expired"),
        pytest.param(
            lambda k: make_token(k["ES384"], aud=f"{BASE_URL}/cds-services"),
            "'aud'",
            id="wrong-audience",
        ),
        pytest.param(
            lambda k: make_token(k["ES384"], aud=f"https://evil.example{ENDPOINT}"),
            "'aud'",
            id="other-host",
        ),
        pytest.param(
            lambda k: make_token(k["ES384"], iss="https://unknown.example"),
            "issuer",
            id="unknown-issuer",
        ),
        pytest.param(lambda k: unsigned_token(), "'alg'", id="alg-none"),
        pytest.param(
            lambda k: jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": BASE_URL + ENDPOINT,
                    "exp": int(time.time()) + 300,
                    "jti": "h",
                },
                "a-shared-secret-long-enough-for-hmac-sha256",
                algorithm="HS256",
                headers={"kid": "ehr-es384"},
            ),
            "'alg'",
            id="hs256",
        ),
        pytest.param(
            lambda k: make_token(k["ES384"], kid="ehr-rs384"),
            "does not match",
            id="key-of-another-type",
        ),
        pytest.param(
            lambda k: make_token(k["ES384"], lifetime=86_400), "lives longer", id="too-long-lived"
        ),
        pytest.param(lambda k: "not-a-jwt", "well-formed", id="garbage"),
    ],
)
def test_untrusted_jwts_are_refused_with_401(
    cds: TestClient, keys: dict[str, SigningKey], make: Any, reason: str
) -> None:
    response = cds.post(ENDPOINT, json=hook_call(full_prefetch()), headers=bearer(make(keys)))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_replayed_jti_is_refused_with_401(cds: TestClient, keys: dict[str, SigningKey]) -> None:
    token = make_token(keys["ES384"])
    first = cds.post(ENDPOINT, json=hook_call(full_prefetch()), headers=bearer(token))
    again = cds.post(ENDPOINT, json=hook_call(full_prefetch()), headers=bearer(token))
    assert first.status_code == 200
    assert again.status_code == 401
    assert "already used" in again.json()["detail"]


def test_a_call_without_a_token_is_refused_with_401(cds: TestClient) -> None:
    assert cds.post(ENDPOINT, json=hook_call(full_prefetch())).status_code == 401


def test_with_no_cds_keys_configured_every_call_is_refused(
    trained_model: TrainingOutcome, keys: dict[str, SigningKey]
) -> None:
    settings = cds_settings(keys, cds_jwks=None)
    with TestClient(create_app(settings)) as client:
        assert client.get("/cds-services").status_code == 200
        response = call_service(client, keys, hook_call(full_prefetch()))
    assert response.status_code == 401
    assert "not configured" in response.json()["detail"]


# --- feedback ------------------------------------------------------------------------------


def feedback_headers(keys: dict[str, SigningKey]) -> dict[str, str]:
    return bearer(make_token(keys["ES384"], aud=f"{BASE_URL}{ENDPOINT}/feedback"))


def last_feedback(client: TestClient) -> FeedbackRecord:
    """The newest feedback row in the service's shared database."""
    with Session(client.app.state.audit_trail.engine, expire_on_commit=False) as session:
        return session.scalars(
            select(FeedbackRecord).order_by(FeedbackRecord.id.desc()).limit(1)
        ).one()


def test_feedback_is_accepted_and_recorded(cds: TestClient, keys: dict[str, SigningKey]) -> None:
    card = call_service(cds, keys, hook_call(full_prefetch())).json()["cards"][0]
    body = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": "https://example.org/reasons", "code": "already-known"},
                    "userComment": "free text that may name the client",
                },
                "outcomeTimestamp": "2026-03-24T10:05:31Z",
            }
        ]
    }
    response = cds.post(f"{ENDPOINT}/feedback", json=body, headers=feedback_headers(keys))
    assert response.status_code == 200
    record = last_feedback(cds)
    assert (record.card, record.outcome, record.known_card) == (card["uuid"], "overridden", True)
    assert record.override_reason == "https://example.org/reasons|already-known"
    assert all("free text" not in str(value) for value in vars(record).values())


def test_a_card_whose_record_cannot_be_committed_is_not_released(
    cds: TestClient, keys: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's record travels with the call's audit record: when that transaction fails,
    the caller gets 503, no card, and no card is recorded."""

    def issued_cards() -> int:
        with Session(cds.app.state.audit_trail.engine) as session:
            return session.scalar(select(func.count()).select_from(IssuedCard))

    async def broken(rows: object) -> None:
        raise OSError("disk full")

    before = issued_cards()
    monkeypatch.setattr(cds.app.state.audit_trail.writer, "commit", broken)
    response = call_service(cds, keys, hook_call(full_prefetch()))
    assert response.status_code == 503
    assert "cards" not in response.json()
    assert issued_cards() == before


def test_feedback_needs_a_valid_token_and_valid_content(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    accepted = {
        "card": str(uuid.uuid4()),
        "outcome": "accepted",
        "outcomeTimestamp": "2026-03-24T10:05:31Z",
    }
    service_token = bearer(make_token(keys["ES384"]))  # audience of the service, not its feedback
    unauthorized = cds.post(
        f"{ENDPOINT}/feedback", json={"feedback": [accepted]}, headers=service_token
    )
    assert unauthorized.status_code == 401
    # "acceptedSuggestions ... Required for accepted outcomes".
    invalid = cds.post(
        f"{ENDPOINT}/feedback", json={"feedback": [accepted]}, headers=feedback_headers(keys)
    )
    assert invalid.status_code == 422
    complete = copy.deepcopy(accepted) | {"acceptedSuggestions": [{"id": str(uuid.uuid4())}]}
    ok = cds.post(
        f"{ENDPOINT}/feedback", json={"feedback": [complete]}, headers=feedback_headers(keys)
    )
    assert ok.status_code == 200
    assert last_feedback(cds).known_card is False


def test_a_card_says_the_violence_risk_is_not_estimated_once_an_incident_is_recorded(
    cds: TestClient, keys: dict[str, SigningKey]
) -> None:
    resources = ehr_resources()
    (episode,) = of_type(resources, "EpisodeOfCare")
    episode["extension"].append({"url": codes.EXT_VIOLENT_INCIDENT, "valueBoolean": True})
    response = call_service(cds, keys, hook_call(full_prefetch(resources)))
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    assert "violence risk not estimated" in card["summary"]
    assert "first incident" in card["detail"]
