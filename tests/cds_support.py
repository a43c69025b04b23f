"""Helpers for the CDS Hooks and JWT tests: the specification's rules as checks, test keys
and tokens, an EHR's prefetch, and a fake EHR FHIR server on 127.0.0.1.

The `check_*` functions encode CDS Hooks 2.0 (Discovery, Prefetch Template, CDS Service
Response, Card Attributes), with the rule each assertion comes from beside it. Keys are
generated at test time; none is stored in the repository.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.fhir import bundle_from_history
from data_schemas.records import ClientHistory
from service.settings import Settings

ISSUER = "https://ehr.example.org"
BASE_URL = "https://risk.example.org"
SERVICE = "alliance-risk-patient-view"
ENDPOINT = f"/cds-services/{SERVICE}"
PATIENT = "example-client-0001"
ACCESS_TOKEN = "opaque-fhir-access-token"


# --- the specification's rules ------------------------------------------------------------


def check_no_null_or_empty(value: Any, path: str = "$") -> None:
    """ "JSON elements SHALL NOT be null ... SHALL NOT be empty, unless otherwise specified"
    (the one exception used here: an empty `cards` array means no guidance)."""
    assert value is not None, f"{path} is null"
    if isinstance(value, dict):
        assert value, f"{path} is an empty object"
        for key, item in value.items():
            check_no_null_or_empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        assert value or path == "$.cards", f"{path} is an empty array"
        for index, item in enumerate(value):
            check_no_null_or_empty(item, f"{path}[{index}]")
    elif isinstance(value, str):
        assert value, f"{path} is an empty string"


PREFETCH_TOKEN = re.compile(r"\{\{([^}]*)\}\}")
USER_TOKENS = {
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
}
#: Search parameters the prefetch templates use: references to the patient, token equality,
#: `_count`, `_sort` (the specification's widely supported subset), and `_include`, which
#: the subset does not list ("prefetch queries SHOULD be restricted to ..."): it brings the
#: therapist with the episode, and the service reads the therapist itself when it is missing.
ALLOWED_PARAMETERS = {"patient", "code", "questionnaire", "_count", "_sort", "_include"}


def check_prefetch_template(template: str) -> None:
    # "Prefetch tokens MUST be delimited by {{ and }}, and MUST contain only the qualified
    # path to a hook context field ... or one of the following user identifiers".
    for token in PREFETCH_TOKEN.findall(template):
        assert token.startswith("context.") or token in USER_TOKENS, token
    # "A prefetch template is a FHIR read or search request": Type/{id} or Type?params.
    path, _, query = template.partition("?")
    assert re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{context\.[A-Za-z]+\}\})?", path), template
    if query:
        assert "/" not in path, "a read takes no search parameters"
        names = {pair.partition("=")[0] for pair in query.split("&")}
        assert names <= ALLOWED_PARAMETERS, names - ALLOWED_PARAMETERS


def check_discovery(document: dict[str, Any]) -> None:
    check_no_null_or_empty(document)
    # "The response to the discovery endpoint SHALL be an object containing a list of CDS Services."
    assert isinstance(document["services"], list)
    ids = set()
    for service in document["services"]:
        # hook, description and id are REQUIRED strings; title RECOMMENDED.
        for field in ("hook", "description", "id", "title"):
            assert isinstance(service[field], str), field
        # The id is "the {id} portion of the URL to this service".
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", service["id"])
        ids.add((service["id"], service["hook"]))
        # prefetch: "key/value pairs of FHIR queries": strings to strings.
        for key, template in service.get("prefetch", {}).items():
            assert isinstance(key, str)
            assert isinstance(template, str)
            check_prefetch_template(template)
        if "usageRequirements" in service:
            assert isinstance(service["usageRequirements"], str)
    assert len(ids) == len(document["services"])


def check_card(card: dict[str, Any]) -> None:
    # "summary: REQUIRED ... One-sentence, <140-character summary message".
    assert isinstance(card["summary"], str)
    assert 0 < len(card["summary"]) < 140
    # "indicator: REQUIRED ... Allowed values ... are: info, warning, critical".
    assert card["indicator"] in {"info", "warning", "critical"}
    # "source: REQUIRED"; "label: REQUIRED ... A short, human-readable label".
    assert isinstance(card["source"]["label"], str)
    # "detail: OPTIONAL ... MUST be represented in (GitHub Flavored) Markdown".
    assert isinstance(card.get("detail", ""), str)
    # "uuid: OPTIONAL ... SHALL be included in any subsequent calls to ... feedback".
    if "uuid" in card:
        uuid.UUID(card["uuid"])
    # "If suggestions are present, selectionBehavior MUST also be provided."
    if "suggestions" in card:
        assert card["selectionBehavior"] in {"at-most-one", "any"}
    for link in card.get("links", []):
        # label, url and type are REQUIRED; type is absolute or smart; "appContext ...
        # should only be valued if the link type is smart".
        assert isinstance(link["label"], str)
        assert urlsplit(link["url"]).scheme in {"http", "https"}
        assert link["type"] in {"absolute", "smart"}
        assert "appContext" not in link or link["type"] == "smart"


def check_cds_response(document: dict[str, Any]) -> None:
    check_no_null_or_empty(document)
    # "an object containing a cards array and optionally a systemActions array".
    assert set(document) <= {"cards", "systemActions"}
    assert isinstance(document["cards"], list)
    for card in document["cards"]:
        check_card(card)


# --- keys, tokens, requests -------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: Any
    public_jwk: dict[str, Any]


def make_keys() -> dict[str, SigningKey]:
    """A P-384 and an RSA key pair, made for this test run (CDS Hooks recommends ES384, RS384)."""
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    made = {}
    for kid, alg, key, algorithm in (
        ("ehr-es384", "ES384", ec_key, ECAlgorithm),
        ("ehr-rs384", "RS384", rsa_key, RSAAlgorithm),
    ):
        jwk = algorithm.to_jwk(key.public_key(), as_dict=True) | {
            "kid": kid,
            "use": "sig",
            "alg": alg,
        }
        made[alg] = SigningKey(kid, alg, key, jwk)
    return made


def jwks_json(keys: dict[str, SigningKey]) -> str:
    return json.dumps({"keys": [key.public_jwk for key in keys.values()]})


def make_token(
    key: SigningKey,
    *,
    aud: str = BASE_URL + ENDPOINT,
    iss: str = ISSUER,
    lifetime: int = 300,
    jti: str | None = None,
    kid: str | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or str(uuid.uuid4()),
    }
    return jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"kid": kid or key.kid, "typ": "JWT"}
    )


def unsigned_token() -> str:
    """`alg: none`: an unsecured JWS with an empty signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    header = {"alg": "none", "typ": "JWT", "kid": "ehr-es384"}
    claims = {"iss": ISSUER, "aud": BASE_URL + ENDPOINT, "iat": now, "exp": now + 300, "jti": "x"}
    return f"{part(header)}.{part(claims)}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cds_settings(keys: dict[str, SigningKey], **changes: Any) -> Settings:
    values = {
        "auth": "enabled",
        "cds_jwks": jwks_json(keys),
        "cds_issuers": [ISSUER],
        "cds_audience": BASE_URL,
        "fhir_fetch_timeout_seconds": 1.0,
    }
    return Settings(**(values | changes))


def ehr_resources() -> list[dict[str, Any]]:
    history = ClientHistory.model_validate(EXAMPLE_HISTORY)
    bundle = json.loads(bundle_from_history(history).model_dump_json())
    return [entry["resource"] for entry in bundle["entry"]]


def of_type(resources: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] in types]


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
    }
    if resources:
        bundle["entry"] = [{"resource": r} for r in resources]
    return bundle


def full_prefetch(resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The prefetch an EHR sends for the discovery templates, from a client's resources."""
    resources = resources if resources is not None else ehr_resources()
    patients = of_type(resources, "Patient")
    return {
        "patient": patients[0] if patients else None,
        "episodes": searchset(of_type(resources, "EpisodeOfCare", "Practitioner")),
        "sessions": searchset(of_type(resources, "Encounter")),
        "ratings": searchset(of_type(resources, "Observation")),
        "questionnaires": None,
    }


def hook_call(prefetch: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    call = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example-therapist-01", "patientId": PATIENT},
    }
    if prefetch is not None:
        call["prefetch"] = prefetch
    return call | fields


def call_service(client: TestClient, keys: dict[str, SigningKey], body: dict[str, Any]) -> Any:
    return client.post(ENDPOINT, json=body, headers=bearer(make_token(keys["ES384"])))


# --- a fake EHR FHIR server on 127.0.0.1 ---------------------------------------------------


class LocalServer:
    """An ASGI app served by uvicorn in a thread on a free 127.0.0.1 port, for one `with`."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
        self.url = ""

    def __enter__(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "the local test server did not start"
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class FakeFhirServer:
    """Serves one client's resources by read and search, paging Encounters two at a time,
    and notes every request (path, query, Authorization header)."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.base = ""
        app = Starlette(
            routes=[
                Route("/fhir/{kind}/{id}", self.read),
                Route("/fhir/{kind}", self.search),
            ]
        )
        self.local = LocalServer(app)

    def _note(self, request: Request) -> None:
        self.requests.append(
            (request.url.path, parse_qs(request.url.query), request.headers.get("authorization"))
        )

    async def read(self, request: Request) -> JSONResponse:
        self._note(request)
        kind, rid = request.path_params["kind"], request.path_params["id"]
        for resource in of_type(self.resources, kind):
            if resource.get("id") == rid:
                return JSONResponse(resource, media_type="application/fhir+json")
        return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=404)

    async def search(self, request: Request) -> JSONResponse:
        self._note(request)
        kind = request.path_params["kind"]
        found = of_type(self.resources, kind)
        if kind == "EpisodeOfCare" and "_include" in request.query_params:
            found += of_type(self.resources, "Practitioner")
        if kind != "Encounter":
            return JSONResponse(searchset(found))
        page = int(request.query_params.get("_page", "0"))
        bundle = searchset(found[2 * page : 2 * page + 2])
        if 2 * page + 2 < len(found):
            bundle["link"] = [
                {"relation": "next", "url": f"{self.base}/Encounter?_page={page + 1}"}
            ]
        return JSONResponse(bundle)

    def __enter__(self) -> FakeFhirServer:
        self.base = self.local.__enter__() + "/fhir"
        return self

    def __exit__(self, *exc: object) -> None:
        self.local.__exit__(*exc)


def fhir_access(base: str) -> dict[str, Any]:
    return {
        "fhirServer": base,
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read user/Encounter.read",
            "subject": "alliance-risk",
        },
    }


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
