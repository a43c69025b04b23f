"""Verify signed JWTs from callers we trust: CDS Hooks clients and OAuth2 bearer tokens.

The rules follow CDS Hooks 2.0, "Trusting CDS Clients": the token is signed with the
client's private key and checked against its public key (configured out of band, see
`keys`); `iss` must be on an allow-list, `aud` must name the endpoint called, `exp` must be
present and in the future, and a `jti` must not be seen twice within the token's lifetime
(see `replay`). Only asymmetric algorithms are accepted: the specification forbids `none`
(no integrity at all) and every symmetric (HMAC) algorithm, because a shared secret would
let the service forge the client's tokens.

Error messages say what was wrong with the token, never what it contained.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import jwt

if TYPE_CHECKING:
    # Only for annotations: both modules raise this module's TokenRejectedError.
    from service.security.keys import KeyProvider
    from service.security.replay import ReplayCache

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
