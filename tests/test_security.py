"""Who gets in: API keys, OAuth2 bearer tokens, scopes, and the development switch."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import jwt
import pytest
from credentials import (
    ADMIN_SCOPE,
    CLINIC_KEY,
    OPS_KEY,
    access_token,
    bearer_header,
    key_header,
    secured_settings,
)
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alliance_risk_cli import app as cli
from data_schemas.examples import EXAMPLE_HISTORY
from service.app import create_app
from service.security.api_keys import ApiKeyTable, hash_api_key
from service.security.auth import InsecureConfigurationError
from service.settings import Settings
from training.pipeline import TrainingOutcome

REPORT_LINK_PATHS = {"/v1/reports/{token}"}
OPEN_PATHS = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    with TestClient(create_app(secured_settings())) as test_client:
        yield test_client


def protected_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation the API describes except the open ones, CDS Hooks, which checks its
    own JWTs, and a card's report link, which is its own credential (`test_report_links`)."""
    found = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if path in OPEN_PATHS or path.startswith("/cds-services") or path in REPORT_LINK_PATHS:
            continue
        concrete = path.replace("{", "").replace("}", "")
        found += [(method.upper(), concrete) for method in operations]
    return found


def test_every_client_data_and_admin_endpoint_needs_credentials(client: TestClient) -> None:
    routes = protected_routes(client)
    assert ("POST", "/v1/predictions") in routes
    assert ("POST", "/admin/reload") in routes
    for method, path in routes:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


def test_health_readiness_and_the_api_description_are_open(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_a_configured_api_key_is_let_in(client: TestClient) -> None:
    response = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "key",
    ["ar_not-a-key", CLINIC_KEY[:-1], CLINIC_KEY + "x", ""],
    # Named, not shown: the key is made afresh in each test process.
    ids=["unknown", "one-character-short", "one-character-long", "empty"],
)
def test_a_wrong_api_key_gets_401(client: TestClient, key: str) -> None:
    response = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header(key))
    assert response.status_code == 401
    assert key not in response.text or not key


def test_api_keys_are_kept_as_hashes_and_name_their_caller() -> None:
    table = ApiKeyTable({"clinic-ehr": hash_api_key(CLINIC_KEY), "ops": hash_api_key(OPS_KEY)})
    assert table.caller_for(CLINIC_KEY) == "clinic-ehr"
    assert table.caller_for(OPS_KEY) == "ops"
    assert table.caller_for(CLINIC_KEY.upper()) is None
    assert CLINIC_KEY not in hash_api_key(CLINIC_KEY)


def test_keys_create_prints_a_key_once_with_the_hash_line_for_the_configuration() -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "clinic-ehr"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    key = lines[1]
    assert key.startswith("ar_")
    assert lines[-1] == f'ALLIANCE_RISK_API_KEYS=\'{{"clinic-ehr": "{hash_api_key(key)}"}}\''


def test_a_bearer_token_with_the_scope_is_let_in(client: TestClient) -> None:
    response = client.post(
        "/v1/predictions", json=EXAMPLE_HISTORY, headers=bearer_header(access_token())
    )
    assert response.status_code == 200, response.text


def test_a_bearer_token_without_the_scope_gets_403(client: TestClient) -> None:
    token = access_token(scope="openid profile")
    response = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=bearer_header(token))
    assert response.status_code == 403
    assert "alliance-risk.predict" in response.json()["detail"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: access_token(lifetime=-120), id="expired"),
        pytest.param(lambda: access_token(issuer="https://evil.example"), id="wrong-issuer"),
        pytest.param(lambda: access_token(audience="https://other.example"), id="wrong-audience"),
        pytest.param(
            lambda: access_token(key=ec.generate_private_key(ec.SECP384R1())), id="wrong-key"
        ),
        pytest.param(
            lambda: jwt.encode({"iss": "x"}, "a-shared-secret-of-32-bytes-long!", "HS256"),
            id="symmetric",
        ),
        pytest.param(lambda: "not-a-jwt", id="garbage"),
    ],
)
def test_a_bearer_token_that_does_not_verify_gets_401(client: TestClient, token) -> None:
    value = token()
    response = client.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=bearer_header(value))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert value not in response.text


def test_admin_calls_need_the_admin_scope(client: TestClient) -> None:
    assert client.post("/admin/reload", headers=key_header(CLINIC_KEY)).status_code == 403
    assert client.post("/admin/reload", headers=key_header(OPS_KEY)).status_code == 200
    admin_token = access_token(scope=ADMIN_SCOPE)
    assert client.post("/admin/reload", headers=bearer_header(admin_token)).status_code == 200
    assert client.post("/admin/reload", headers=bearer_header(access_token())).status_code == 403


def test_with_nothing_configured_the_service_starts_denies_and_says_how_to_configure(
    trained_model: TrainingOutcome, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), TestClient(create_app(Settings(auth="enabled"))) as bare:
        assert bare.get("/readyz").status_code == 200
        assert bare.post("/v1/predictions", json=EXAMPLE_HISTORY).status_code == 401
        assert (
            bare.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header()).status_code
            == 401
        )
    assert "alliance-risk keys create" in caplog.text
    assert "ALLIANCE_RISK_API_KEYS" in caplog.text


def test_a_malformed_key_hash_is_reported_not_fatal(
    trained_model: TrainingOutcome, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(auth="enabled", api_keys={"clinic-ehr": "md5:1234"})
    with caplog.at_level(logging.ERROR), TestClient(create_app(settings)) as app:
        assert (
            app.post("/v1/predictions", json=EXAMPLE_HISTORY, headers=key_header()).status_code
            == 401
        )
    assert "sha256:<64 hex digits>" in caplog.text


def test_disabled_auth_warns_loudly_at_start_up(
    trained_model: TrainingOutcome, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), TestClient(create_app(Settings(auth="disabled"))) as dev:
        assert dev.post("/v1/predictions", json=EXAMPLE_HISTORY).status_code == 200
    assert "AUTHENTICATION IS DISABLED" in caplog.text


def test_disabled_auth_refuses_to_start_on_a_non_loopback_address() -> None:
    with pytest.raises(InsecureConfigurationError, match=r"127\.0\.0\.1"):
        create_app(Settings(auth="disabled", host="0.0.0.0"))
    result = CliRunner().invoke(
        cli, ["serve", "--host", "0.0.0.0"], env={"ALLIANCE_RISK_AUTH": "disabled"}
    )
    assert result.exit_code == 1
    assert "loopback" in result.output


def test_disabled_auth_answers_only_callers_on_this_machine(trained_model: TrainingOutcome) -> None:
    app = create_app(Settings(auth="disabled"))
    with TestClient(app, client=("192.0.2.10", 50000)) as remote:
        assert remote.post("/v1/predictions", json=EXAMPLE_HISTORY).status_code == 403
    with TestClient(app, client=("127.0.0.1", 50000)) as local:
        assert local.post("/v1/predictions", json=EXAMPLE_HISTORY).status_code == 200


def test_the_api_description_declares_both_credentials(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "OAuth2Bearer", "CdsClientJwt"}
    operation = spec["paths"]["/v1/predictions"]["post"]
    assert {next(iter(s)) for s in operation["security"]} == {"ApiKey", "OAuth2Bearer"}
    cds_call = spec["paths"]["/cds-services/{service_id}"]["post"]
    assert cds_call["security"] == [{"CdsClientJwt": []}]
    assert {"401", "403", "429"} <= set(operation["responses"])
