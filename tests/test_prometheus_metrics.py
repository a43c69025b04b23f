"""`/metrics` for the people who run the service: Prometheus text, parsed here with
prometheus-client's own parser; behind a scrape token (off without one); never an identifier.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from credentials import key_header, secured_settings
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from data_schemas.examples import EXAMPLE_HISTORY
from service.app import create_app
from training.pipeline import TrainingOutcome

SCRAPE_TOKEN = "scrape-token-0123456789abcdef"
MARK = "MRKq7z"


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    settings = secured_settings(metrics_token=SCRAPE_TOKEN, rate_limit_per_minute=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def scrape(client: TestClient) -> tuple[str, dict[str, list[Sample]]]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {
        family.name: family.samples for family in text_string_to_metric_families(response.text)
    }
    return response.text, families


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def marked_history() -> dict:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"]["client_id"] = f"{MARK}-client"
    return body


def test_metrics_are_off_without_a_scrape_token(trained_model: TrainingOutcome) -> None:
    with TestClient(create_app(secured_settings())) as plain:
        assert plain.get("/metrics").status_code == 404
        assert "/metrics" not in plain.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", SCRAPE_TOKEN])
def test_metrics_need_the_scrape_token(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "alliance_risk" not in response.text


def test_requests_are_counted_by_route_template_and_status_with_latency(
    client: TestClient,
) -> None:
    _, before = scrape(client)
    assert (
        client.post("/v1/predictions", json=marked_history(), headers=key_header()).status_code
        == 200
    )
    assert client.post("/v1/predictions", json={}, headers=key_header()).status_code == 422
    assert client.get(f"/v1/{MARK}-path").status_code in (401, 404)
    text, after = scrape(client)
    requests = "alliance_risk_http_requests_total"

    def grew(**labels: str) -> float:
        family = "alliance_risk_http_requests"
        return value(after[family], requests, **labels) - value(before[family], requests, **labels)

    assert grew(method="POST", route="/v1/predictions", status="200") == 1
    assert grew(method="POST", route="/v1/predictions", status="422") == 1
    assert grew(route="(unmatched)") == 1
    latency = after["alliance_risk_http_request_duration_seconds"]
    count = "alliance_risk_http_request_duration_seconds_count"
    assert value(latency, count, route="/v1/predictions") >= 2
    assert value(latency, "alliance_risk_http_request_duration_seconds_bucket", le="+Inf") >= 2
    assert MARK not in text


def test_predictions_are_counted_by_outcome_and_band(client: TestClient) -> None:
    _, before = scrape(client)
    answer = client.post("/v1/predictions", json=marked_history(), headers=key_header()).json()
    _, after = scrape(client)
    for outcome, result in answer["predictions"].items():
        labels = {"outcome": outcome, "band": result["band"]}
        name = "alliance_risk_predictions_total"
        grown = value(after["alliance_risk_predictions"], name, **labels) - value(
            before["alliance_risk_predictions"], name, **labels
        )
        assert grown == 1, labels
    bands = {s.labels["band"] for s in after["alliance_risk_predictions"]}
    assert bands <= {"low", "moderate", "high"}


def test_the_model_version_and_load_time_are_shown(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    _, families = scrape(client)
    (info,) = families["alliance_risk_model_info"]
    assert info.labels == {
        "name": "alliance-risk",
        "version": trained_model.version,
        "alias": "champion",
    }
    assert families["alliance_risk_model_ready"][0].value == 1
    assert families["alliance_risk_model_load_duration_seconds"][0].value > 0
    assert families["alliance_risk_model_loaded_timestamp_seconds"][0].value > 1.7e9


def test_audit_write_failures_are_counted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_: object) -> None:
        raise OSError("disk full")

    _, before = scrape(client)
    monkeypatch.setattr(client.app.state.audit_trail, "commit", broken)
    assert (
        client.post("/v1/predictions", json=marked_history(), headers=key_header()).status_code
        == 503
    )
    monkeypatch.undo()
    _, after = scrape(client)
    name = "alliance_risk_audit_write_failures_total"
    family = "alliance_risk_audit_write_failures"
    assert value(after[family], name) - value(before[family], name) == 1
