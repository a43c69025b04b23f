"""Where the public keys that check a token come from: the configuration, never the token.

A JWK Set (inline, in a file, or fetched from a configured https URL and refreshed when a
token names a key not yet seen) or one PEM public key. Private and symmetric keys are
refused: a shared secret would let the service forge its callers' tokens. A `jku` header is
never followed: fetching keys from a URL the token names would let the token choose who
vouches for it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import jwt
from jwt import PyJWK

from service.security.jwt import TokenRejectedError

logger = logging.getLogger("alliance_risk.security")


class KeyConfigurationError(ValueError):
    """The configured key material cannot be read as a JWK Set or a PEM public key."""


class KeyProvider(Protocol):
    def key_for(self, kid: str | None, algorithm: str) -> Any:
        """The public key that checks a token with this `kid` and `alg`."""
        ...


def _is_public_jwk(jwk: dict[str, Any]) -> bool:
    return "d" not in jwk and jwk.get("kty") != "oct"


def _key_set(document: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """JWKs by `kid` from a JWK Set or a single JWK; private and symmetric keys are refused."""
    jwks = document.get("keys") if "keys" in document else [document]
    if not isinstance(jwks, list) or not jwks:
        raise KeyConfigurationError("the JWK Set has no keys")
    keys: dict[str | None, dict[str, Any]] = {}
    for jwk in jwks:
        if not isinstance(jwk, dict) or "kty" not in jwk:
            raise KeyConfigurationError("every JWK needs a 'kty'")
        if not _is_public_jwk(jwk):
            raise KeyConfigurationError(
                "the JWK Set holds a private or symmetric key; configure public keys only"
            )
        if jwk.get("use", "sig") != "sig":
            continue
        keys[jwk.get("kid")] = jwk
    if not keys:
        raise KeyConfigurationError("the JWK Set has no signing keys")
    return keys


def _jwk_for(keys: dict[str | None, dict[str, Any]], kid: str | None, algorithm: str) -> PyJWK:
    if kid is None:
        if len(keys) != 1:
            raise TokenRejectedError("the token has no 'kid' and several keys are configured")
        jwk = next(iter(keys.values()))
    elif kid in keys:
        jwk = keys[kid]
    else:
        raise TokenRejectedError("the token's 'kid' names no configured key")
    if jwk.get("alg") not in (None, algorithm):
        raise TokenRejectedError("the token's 'alg' does not match its key")
    try:
        # PyJWK refuses a key whose type does not fit the algorithm (an RSA key with ES256).
        return PyJWK(jwk, algorithm=algorithm)
    except jwt.PyJWTError:
        raise TokenRejectedError("the token's 'alg' does not match its key") from None


class StaticKeys:
    """A JWK Set (or one JWK) given inline or in a file."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._keys = _key_set(document)

    def key_for(self, kid: str | None, algorithm: str) -> Any:
        return _jwk_for(self._keys, kid, algorithm).key


class PemKey:
    """One PEM-encoded public key; a token's `kid`, if any, is not needed to find it."""

    def __init__(self, pem: str) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            self._key = load_pem_public_key(pem.encode())
        except ValueError:
            raise KeyConfigurationError("the PEM text is not a public key") from None

    def key_for(self, kid: str | None, algorithm: str) -> Any:
        return self._key


class RemoteKeys:
    """A JWK Set fetched from a configured https URL, cached, and refetched when a token
    names a `kid` not yet seen (key rotation), at most once per `min_refresh_seconds`."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 30.0,
    ) -> None:
        self.url = url
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self, *, force: bool) -> None:
        now = time.monotonic()
        age = now - self._fetched_at
        if age < self._min_refresh or (not force and age < self._cache_seconds):
            return
        self._fetched_at = now
        try:
            response = httpx.get(self.url, timeout=self._timeout, follow_redirects=False)
            response.raise_for_status()
            self._keys = _key_set(response.json())
        except (httpx.HTTPError, ValueError, KeyConfigurationError) as error:
            logger.error("the JWK Set could not be fetched: %s", type(error).__name__)

    def key_for(self, kid: str | None, algorithm: str) -> Any:
        with self._lock:
            self._refresh(force=False)
            if kid not in self._keys:
                self._refresh(force=True)
            keys = dict(self._keys)
        if not keys:
            raise TokenRejectedError("the signing keys are not available")
        return _jwk_for(keys, kid, algorithm).key


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_keys(spec: str, *, timeout_seconds: float = 2.0) -> KeyProvider:
    """Keys from configuration: inline JWKS/JWK JSON, an inline PEM public key, an https URL
    of a JWK Set, or the path of a file holding either."""
    text = spec.strip()
    if text.startswith("{"):
        try:
            return StaticKeys(json.loads(text))
        except json.JSONDecodeError:
            raise KeyConfigurationError("the inline JWK Set is not valid JSON") from None
    if text.startswith("-----BEGIN"):
        return PemKey(text)
    if text.startswith(("https://", "http://")):
        host = urlsplit(text).hostname or ""
        if text.startswith("http://") and not _loopback(host):
            # Keys fetched in the clear could be swapped by anyone on the path.
            raise KeyConfigurationError("a JWK Set URL must use https (http only on loopback)")
        return RemoteKeys(text, timeout_seconds=timeout_seconds)
    path = Path(text)
    if not path.is_file():
        raise KeyConfigurationError(
            "the key setting is neither JSON, PEM, a URL nor the path of an existing file"
        )
    return load_keys(path.read_text(encoding="utf-8"), timeout_seconds=timeout_seconds)
