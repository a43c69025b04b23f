"""Limits and headers: body size (413), rate (429), time (503), security headers, CORS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from credentials import OPS_KEY, key_header, secured_settings
from fastapi.testclient import TestClient

from data_schemas.examples import EXAMPLE_HISTORY
from service.app import create_app
from service.middleware.edge import SECURITY_HEADERS
from service.routes import predictions
from training.pipeline import TrainingOutcome


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    settings = secured_settings(max_body_bytes=20_000, rate_limit_per_minute=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_body_over_the_cap_gets_413_before_it_is_read(client: TestClient) -> None:
    body = {"items": [EXAMPLE_HISTORY] * 30}
    response = client.post("/v1/predictions:batch", json=body, headers=key_header())
    assert response.status_code == 413
    assert response.json()["title"] == "Request too large"
    assert "20000 bytes" in response.json()["detail"]


def test_a_streamed_body_over_the_cap_gets_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"items": ['
        for _ in range(40):
            yield b'{"client": {"client_id": "' + b"x" * 1000 + b'"}},'
        yield b"{}]}"

    headers = {**key_header(), "content-type": "application/json"}
    response = client.post("/v1/predictions:batch", content=chunks(), headers=headers)
    assert response.status_code == 413


def test_the_caller_over_its_rate_gets_429_with_retry_after(trained_model: TrainingOutcome) -> None:
    with TestClient(create_app(secured_settings(rate_limit_per_minute=3))) as limited:
        statuses = [
            limited.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header()).status_code
            for _ in range(4)
        ]
        refused = limited.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
        other = limited.get("/v1/model", headers=key_header(OPS_KEY))
    assert statuses == [200, 200, 200, 429]
    assert int(refused.headers["Retry-After"]) >= 1
    assert other.status_code == 200, "each caller has its own allowance"


def test_a_request_that_takes_too_long_gets_503_not_a_hang(
    trained_model: TrainingOutcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_predict = predictions.predict

    def slow_predict(*args, **kwargs):
        time.sleep(1.0)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(predictions, "predict", slow_predict)
    with TestClient(create_app(secured_settings(request_timeout_seconds=0.2))) as slow:
        started = time.perf_counter()
        response = slow.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
        elapsed = time.perf_counter() - started
        assert slow.get("/healthz").status_code == 200
    assert response.status_code == 503
    assert response.json()["title"] == "Request timed out"
    assert response.headers["Retry-After"]
    assert elapsed < 0.9


@pytest.mark.parametrize(
    ("method", "path", "authenticated"),
    [
        ("GET", "/healthz", False),
        ("GET", "/readyz", False),
        ("POST", "/v1/predictions", True),
        ("POST", "/v1/predictions", False),
        ("GET", "/no/such/path", False),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str, authenticated: bool
) -> None:
    headers = key_header() if authenticated else {}
    response = client.request(method, path, json=EXAMPLE_HISTORY, headers=headers)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (name, response.status_code)
    assert len(response.headers["X-Request-ID"]) == 32


def test_cors_is_off_unless_origins_are_configured(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    preflight = {
        "Origin": "https://ehr.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type",
    }
    refused = client.options("/v1/predictions", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers
    settings = secured_settings(cors_origins=["https://ehr.example.org"])
    with TestClient(create_app(settings)) as cors:
        allowed = cors.options("/v1/predictions", headers=preflight)
        other = cors.options(
            "/v1/predictions", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://ehr.example.org"
    assert "access-control-allow-origin" not in other.headers
