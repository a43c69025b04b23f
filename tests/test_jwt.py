"""The JWT verifier shared by CDS Hooks and OAuth2: keys, algorithms and the replay cache.

The route-level rules (expired, wrong audience, unknown issuer, `alg: none`, HS256,
replayed `jti`: all 401) are in `test_cds_hooks.py`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cds_support import (
    BASE_URL,
    ENDPOINT,
    ISSUER,
    LocalServer,
    SigningKey,
    jwks_json,
    make_keys,
    make_token,
)
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.audit.store import make_engine
from service.db.schema import upgrade
from service.security.jwt import JwtVerifier, TokenRejectedError
from service.security.keys import KeyConfigurationError, RemoteKeys, load_keys
from service.security.replay import ReplayCache, TokenUse


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return make_keys()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database at this code's schema revision."""
    made = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(made)
    yield made
    made.dispose()


@pytest.fixture
def replay_cache(engine: Engine) -> ReplayCache:
    return ReplayCache(engine)


def test_the_replay_cache_admits_a_jti_once_under_concurrency(replay_cache: ReplayCache) -> None:
    results: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(replay_cache.first_use("iss", "same", time.time() + 60))
        )
        for _ in range(32)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_the_replay_cache_forgets_a_token_once_it_has_expired(engine: Engine) -> None:
    now = [time.time()]
    replay_cache = ReplayCache(engine, clock=lambda: now[0])
    assert replay_cache.first_use("iss", "a", now[0] + 10)
    assert not replay_cache.first_use("iss", "a", now[0] + 10)
    assert replay_cache.first_use("other-iss", "a", now[0] + 10)
    now[0] += 10 + replay_cache.leeway + 61  # past expiry and leeway, and the next purge is due
    assert replay_cache.first_use("iss", "b", now[0] + 10)
    with replay_cache.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(TokenUse)).scalar_one() == 1


def test_the_replay_cache_fails_closed_when_the_database_cannot_record(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")
    with pytest.raises(TokenRejectedError, match="could not be recorded"):
        ReplayCache(engine).first_use("iss", "a", time.time() + 60)
    engine.dispose()


def test_symmetric_algorithms_and_private_keys_cannot_be_configured(
    keys: dict[str, SigningKey],
) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        JwtVerifier(load_keys(jwks_json(keys)), issuers=[ISSUER], algorithms=["HS256"])
    private = ECAlgorithm.to_jwk(keys["ES384"].private_key, as_dict=True)
    with pytest.raises(KeyConfigurationError, match="private"):
        load_keys(json.dumps({"keys": [private]}))
    with pytest.raises(KeyConfigurationError, match="private or symmetric"):
        load_keys(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))


def test_keys_load_from_a_file_or_a_pem(keys: dict[str, SigningKey], tmp_path: Path) -> None:

    path = tmp_path / "jwks.json"
    path.write_text(jwks_json(keys))
    verifier = JwtVerifier(load_keys(str(path)), issuers=[ISSUER])
    assert verifier.verify(make_token(keys["RS384"]), audience=BASE_URL + ENDPOINT)["iss"] == ISSUER
    pem = (
        keys["ES384"]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verifier = JwtVerifier(load_keys(pem.decode()), issuers=[ISSUER])
    assert verifier.verify(make_token(keys["ES384"]), audience=BASE_URL + ENDPOINT)["iss"] == ISSUER


def test_keys_load_from_a_jwks_url_and_are_refetched_for_a_new_kid(
    keys: dict[str, SigningKey],
) -> None:
    served = {"keys": [keys["ES384"].public_jwk]}
    calls = []

    async def jwks(request: Request) -> JSONResponse:
        calls.append(request.url.path)
        return JSONResponse(served)

    with LocalServer(Starlette(routes=[Route("/jwks", jwks)])) as url:
        provider = load_keys(f"{url}/jwks", timeout_seconds=1.0)
        assert isinstance(provider, RemoteKeys)
        provider._min_refresh = 0.0  # let the test rotate keys without waiting
        verifier = JwtVerifier(provider, issuers=[ISSUER])
        audience = BASE_URL + ENDPOINT
        assert verifier.verify(make_token(keys["ES384"]), audience=audience)["iss"] == ISSUER
        served["keys"].append(keys["RS384"].public_jwk)  # the EHR rotates in a new key
        assert verifier.verify(make_token(keys["RS384"]), audience=audience)["iss"] == ISSUER
    assert len(calls) == 2


def test_a_jwks_url_must_use_https_off_this_machine() -> None:
    with pytest.raises(KeyConfigurationError, match="https"):
        load_keys("http://ehr.example.org/jwks")
