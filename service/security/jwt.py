"""Verify signed JWTs from callers we trust: CDS Hooks clients and OAuth2 bearer tokens.

The rules follow CDS Hooks 2.0, "Trusting CDS Clients": the token is signed with the
client's private key and checked against its public key (a JWK Set, or one PEM key,
configured out of band); `iss` must be on an allow-list, `aud` must name the endpoint
called, `exp` must be present and in the future, and a `jti` must not be seen twice within
the token's lifetime. Only asymmetric algorithms are accepted: the specification forbids
`none` (no integrity at all) and every symmetric (HMAC) algorithm, because a shared secret
would let the service forge the client's tokens.

A `jku` header is never followed: fetching keys from a URL the token names would let the
token choose who vouches for it. Keys come only from the configuration.

Error messages say what was wrong with the token, never what it contained.
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import jwt
from jwt import PyJWK

logger = logging.getLogger("alliance_risk.security")

#: RFC 7518 asymmetric signature algorithms (and EdDSA, RFC 8037). CDS Hooks recommends
#: ES384 and RS384; every other entry is as strong or stronger.
ASYMMETRIC_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)

#: Claims CDS Hooks 2.0 makes REQUIRED in a CDS client's JWT.
CDS_REQUIRED_CLAIMS: tuple[str, ...] = ("iss", "aud", "exp", "iat", "jti")


class TokenRejectedError(Exception):
    """The token cannot be trusted; `reason` is safe to show to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


class ReplayCache:
    """`(iss, jti)` pairs seen, each kept until its token expires; thread-safe and bounded.

    When full of unexpired entries it refuses new tokens (fails closed) rather than forget
    one that could then be replayed.
    """

    def __init__(self, capacity: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            expires, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires:
                del self._expiry[key]

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record the token; False when this `(iss, jti)` was already used and is unexpired."""
        key = (issuer, jti)
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._expiry:
                return False
            if len(self._expiry) >= self.capacity:
                raise TokenRejectedError("too many tokens in flight; try again shortly")
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True


class JwtVerifier:
    """Checks a compact JWS: algorithm, key, signature, issuer, audience, times and replay.

    `replay_cache=None` turns the `jti` check off (OAuth2 access tokens are meant to be
    reused); CDS Hooks tokens are one-time and use a cache.
    """

    def __init__(
        self,
        keys: KeyProvider,
        *,
        issuers: Iterable[str],
        algorithms: Sequence[str] = ASYMMETRIC_ALGORITHMS,
        required_claims: Sequence[str] = ("iss", "aud", "exp"),
        required_type: str | None = None,
        leeway_seconds: float = 30.0,
        max_lifetime_seconds: float = 3600.0,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        unsafe = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if unsafe:
            raise ValueError(f"only asymmetric algorithms may be allowed, not {unsafe}")
        self.keys = keys
        self.issuers = frozenset(issuers)
        self.algorithms = tuple(algorithms)
        self.required_claims = tuple(dict.fromkeys(("iss", "aud", "exp", *required_claims)))
        self.required_type = required_type
        self.leeway = leeway_seconds
        self.max_lifetime = max_lifetime_seconds
        self.replay_cache = replay_cache

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejectedError("the token is not a well-formed signed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise TokenRejectedError(
                "the token's 'alg' is not accepted; use an asymmetric algorithm such as "
                "ES384 or RS384 ('none' and HMAC algorithms are refused)"
            )
        if self.required_type is not None and (
            str(header.get("typ", "")).upper() != self.required_type.upper()
        ):
            raise TokenRejectedError(f"the token's 'typ' header must be '{self.required_type}'")
        return header

    def verify(self, token: str, *, audience: str | Sequence[str]) -> dict[str, Any]:
        """The verified claims, or `TokenRejectedError` saying which rule failed."""
        header = self._header(token)
        algorithm = header["alg"]
        key = self.keys.key_for(header.get("kid"), algorithm)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=sorted(self.issuers) or None,
                leeway=self.leeway,
                options={"require": list(self.required_claims), "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejectedError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejectedError("the token's 'aud' is not this endpoint") from None
        except jwt.InvalidIssuerError:
            raise TokenRejectedError("the token's issuer is not on the allow-list") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenRejectedError(f"the token lacks the '{error.claim}' claim") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejectedError("the token is not valid yet") from None
        except jwt.InvalidSignatureError:
            raise TokenRejectedError("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise TokenRejectedError("the token is not valid") from None
        if not self.issuers or claims["iss"] not in self.issuers:
            raise TokenRejectedError("the token's issuer is not on the allow-list")
        self._check_lifetime(claims)
        if self.replay_cache is not None:
            jti = claims.get("jti")
            if not isinstance(jti, str) or not jti:
                raise TokenRejectedError("the token lacks the 'jti' claim")
            if not self.replay_cache.first_use(claims["iss"], jti, float(claims["exp"])):
                raise TokenRejectedError("the token's 'jti' was already used")
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """A bound on lifetime keeps the replay cache, and a stolen token's use, short."""
        issued = claims.get("iat")
        start = float(issued) if isinstance(issued, int | float) else time.time()
        if float(claims["exp"]) - start > self.max_lifetime + self.leeway:
            raise TokenRejectedError(
                f"the token lives longer than {self.max_lifetime:g} seconds; issue shorter ones"
            )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization:
        raise TokenRejectedError("an 'Authorization: Bearer <JWT>' header is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejectedError("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()
