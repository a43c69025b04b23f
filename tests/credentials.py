"""Test helper: API keys and signed OAuth2 tokens, and settings that accept them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from service.security.api_keys import hash_api_key, new_api_key
from service.settings import Settings

CLINIC_KEY = new_api_key()
OPS_KEY = new_api_key()
ISSUER = "https://idp.example.org"
AUDIENCE = "https://risk.example.org"
PREDICT_SCOPE = "alliance-risk.predict"
ADMIN_SCOPE = "alliance-risk.admin"

_SIGNING_KEY = ec.generate_private_key(ec.SECP384R1())
_PUBLIC_JWK = {
    **json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_SIGNING_KEY.public_key())),
    "kid": "test-key-1",
    "use": "sig",
}
JWKS = json.dumps({"keys": [_PUBLIC_JWK]})


def secured_settings(**changes: Any) -> Settings:
    """Authentication on, two API keys (one with admin rights) and an OAuth2 issuer."""
    values: dict[str, Any] = {
        "auth": "enabled",
        "api_keys": {"clinic-ehr": hash_api_key(CLINIC_KEY), "ops": hash_api_key(OPS_KEY)},
        "admin_api_keys": ["ops"],
        "oauth_jwks": JWKS,
        "oauth_issuers": [ISSUER],
        "oauth_audience": AUDIENCE,
    }
    values.update(changes)
    return Settings(**values)


def access_token(
    *,
    scope: str = PREDICT_SCOPE,
    lifetime: float = 300,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    client_id: str = "scheduling-app",
    algorithm: str = "ES384",
    key: Any = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": "service-account-7",
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + int(lifetime),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims, key or _SIGNING_KEY, algorithm=algorithm, headers={"kid": "test-key-1"}
    )


def cds_token(path: str) -> str:
    """A CDS Hooks client JWT for one call to `path` (settings: cds_* as in `cds_settings`)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE + path,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _SIGNING_KEY, "ES384", headers={"kid": "test-key-1", "typ": "JWT"})


#: Settings under which `cds_token` is accepted.
CDS_SETTINGS: dict[str, Any] = {"cds_jwks": JWKS, "cds_issuers": [ISSUER], "cds_audience": AUDIENCE}


def key_header(key: str = CLINIC_KEY) -> dict[str, str]:
    return {"X-API-Key": key}


def bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
