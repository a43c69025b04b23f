"""Fuzzing: schemathesis generates requests for every operation in the service's own
OpenAPI description and sends them with valid credentials. No answer may be a 5xx, and
every answer must match what the description promises (status, content type, schema).

The example count is bounded (`FUZZ_EXAMPLES`, derandomized) to keep `make test` short;
the README gives the longer, randomized run for a release.
"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from credentials import CDS_SETTINGS, OPS_KEY, cds_token, secured_settings
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.app import create_app
from training.pipeline import TrainingOutcome

#: A release run sets ALLIANCE_RISK_FUZZ_EXAMPLES (e.g. 2000) and gets fresh random examples.
RELEASE_RUN = "ALLIANCE_RISK_FUZZ_EXAMPLES" in os.environ
FUZZ_EXAMPLES = int(os.environ.get("ALLIANCE_RISK_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def api_schema(trained_model: TrainingOutcome) -> schemathesis.BaseSchema:
    app = create_app(secured_settings(rate_limit_per_minute=0, **CDS_SETTINGS))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated CDS calls name arbitrary FHIR servers: answer them all in-process, 404."""
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    real = httpx.AsyncClient

    class OffTheNetwork(real):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(transport=transport, **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", OffTheNetwork)


def credentials(case: schemathesis.Case) -> dict[str, str]:
    path = case.formatted_path
    if path.startswith("/cds-services/"):
        return {"Authorization": f"Bearer {cds_token(path)}"}
    return {"X-API-Key": OPS_KEY}


def described_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, read from an app built without side effects."""
    app = create_app(
        secured_settings(audit_database_url="sqlite://", audit_hmac_key="collection-only-0123")
    )
    spec = app.openapi()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


@pytest.mark.parametrize(("method", "path"), described_operations())
def test_no_operation_answers_5xx_or_outside_its_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=not RELEASE_RUN,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers=credentials(case), excluded_checks=[positive_data_acceptance]
        )

    call()
