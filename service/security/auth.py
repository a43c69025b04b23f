"""Turn a request's credentials into a `Caller`, or refuse it (401, 403, 429).

Two kinds of credential: an API key in `X-API-Key` (stored hashed, see `api_keys`), or an
OAuth2 bearer JWT in `Authorization`, checked by the shared `jwt.JwtVerifier` against the
configured JWKS, issuers and audience. A missing or wrong credential is a 401; a good one
without the scope the endpoint needs is a 403. Every failure message says what to send,
never what was sent.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from service.security.api_keys import ApiKeyTable, KeyConfigurationError
from service.security.jwt import JwtVerifier, TokenRejectedError
from service.security.keys import KeyConfigurationError as JwksConfigurationError
from service.security.keys import load_keys
from service.security.rate_limit import RateLimiter
from service.settings import Settings

logger = logging.getLogger("alliance_risk.security")

API_KEY_HEADER = "X-API-Key"
#: The caller recorded when authentication is disabled for local development.
LOCAL_DEVELOPER = "local-development (auth disabled)"
CHALLENGE = 'Bearer realm="alliance-risk"'


class Access(StrEnum):
    """What an endpoint needs: reading or writing client data, or operating the service."""

    PREDICT = "predict"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    name: str
    method: Literal["api-key", "oauth", "none"]
    access: frozenset[Access]


class InsecureConfigurationError(RuntimeError):
    """The service was asked to run in a way that would expose client data."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_unsafe_bind(settings: Settings, host: str | None = None) -> None:
    """With authentication disabled, serving anywhere but this machine is refused."""
    host = host or settings.host
    if settings.auth == "disabled" and not is_loopback(host):
        raise InsecureConfigurationError(
            f"refusing to serve on {host} with ALLIANCE_RISK_AUTH=disabled: without "
            "authentication the service may only listen on a loopback address (127.0.0.1)"
        )


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = CHALLENGE + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


def _token_scopes(claims: dict[str, Any]) -> set[str]:
    """Scopes from `scope` (RFC 8693, space-separated) or `scp` (a list, or a string)."""
    found: set[str] = set()
    for claim in ("scope", "scp"):
        value = claims.get(claim)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(str(item) for item in value)
    return found


class Authenticator:
    """The configured credentials, and the rules that check them."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth == "enabled"
        self.scopes = {
            Access.PREDICT: settings.oauth_scope,
            Access.ADMIN: settings.oauth_admin_scope,
        }
        self.admin_keys = frozenset(settings.admin_api_keys)
        self.audience = settings.oauth_audience
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.problems: list[str] = []
        try:
            self.keys = ApiKeyTable(settings.api_keys)
        except KeyConfigurationError as error:
            self.problems.append(f"API keys ignored: {error}")
            self.keys = ApiKeyTable({})
        self.verifier = self._verifier(settings)

    def _verifier(self, settings: Settings) -> JwtVerifier | None:
        if not settings.oauth_jwks:
            return None
        if not settings.oauth_issuers or not settings.oauth_audience:
            self.problems.append(
                "OAuth2 bearer tokens are refused: set ALLIANCE_RISK_OAUTH_ISSUERS and "
                "ALLIANCE_RISK_OAUTH_AUDIENCE along with ALLIANCE_RISK_OAUTH_JWKS"
            )
            return None
        try:
            keys = load_keys(settings.oauth_jwks)
        except JwksConfigurationError as error:
            self.problems.append(
                f"OAuth2 bearer tokens are refused: ALLIANCE_RISK_OAUTH_JWKS: {error}"
            )
            return None
        # Access tokens are reused until they expire, so no one-time `jti` check here.
        return JwtVerifier(keys, issuers=settings.oauth_issuers, replay_cache=None)

    @property
    def configured(self) -> bool:
        return len(self.keys) > 0 or self.verifier is not None

    def report(self) -> None:
        """Say at start-up how callers get in, loudly when that is 'anyone' or 'no one'."""
        if not self.enabled:
            logger.warning(
                "AUTHENTICATION IS DISABLED (ALLIANCE_RISK_AUTH=disabled): every local caller is "
                "trusted. For development on 127.0.0.1 with synthetic data only."
            )
            return
        for problem in self.problems:
            logger.error(problem)
        if not self.configured:
            logger.warning(
                "no credentials are configured, so every call to a protected endpoint gets 401. "
                "Create an API key with `alliance-risk keys create NAME` and set "
                "ALLIANCE_RISK_API_KEYS, or set ALLIANCE_RISK_OAUTH_JWKS, "
                "ALLIANCE_RISK_OAUTH_ISSUERS and ALLIANCE_RISK_OAUTH_AUDIENCE."
            )
        else:
            logger.info(
                "authentication on: %d API key(s), OAuth2 bearer tokens %s",
                len(self.keys),
                "accepted" if self.verifier else "not configured",
            )

    async def identify(self, request: Request, api_key: str | None, token: str | None) -> Caller:
        """Who is calling, or a 401."""
        if not self.enabled:
            client = request.client.host if request.client else "localhost"
            if not is_loopback(client) and _is_ip(client):
                raise HTTPException(
                    403, "authentication is disabled, so only this machine may call the service"
                )
            return Caller(LOCAL_DEVELOPER, "none", frozenset(Access))
        if api_key:
            name = self.keys.caller_for(api_key)
            if name is None:
                raise _unauthorized("the API key is not valid")
            access = {Access.PREDICT} | ({Access.ADMIN} if name in self.admin_keys else set())
            return Caller(name, "api-key", frozenset(access))
        if token:
            return await self._identify_bearer(token)
        raise _unauthorized(
            f"authentication required: send an API key in {API_KEY_HEADER} or an OAuth2 "
            "bearer token in Authorization"
        )

    async def _identify_bearer(self, token: str) -> Caller:
        if self.verifier is None:
            raise _unauthorized("this service does not accept bearer tokens", "invalid_token")
        try:
            # May fetch the JWKS over the network: keep it off the event loop.
            claims = await run_in_threadpool(self.verifier.verify, token, audience=self.audience)
        except TokenRejectedError as error:
            raise _unauthorized(error.reason, "invalid_token") from None
        scopes = _token_scopes(claims)
        access = frozenset(a for a, scope in self.scopes.items() if scope in scopes)
        subject = claims.get("client_id") or claims.get("azp") or claims.get("sub") or claims["iss"]
        return Caller(f"oauth:{subject}", "oauth", access)

    def authorize(self, caller: Caller, access: Access) -> None:
        """A 403 without the needed access, a 429 over the caller's rate."""
        if access not in caller.access:
            needed = self.scopes[access]
            raise HTTPException(
                403,
                f"these credentials lack the '{needed}' scope this endpoint needs",
                headers={
                    "WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{needed}"'
                },
            )
        wait = self.limiter.retry_after(caller.name)
        if wait is not None:
            raise HTTPException(
                429,
                f"rate limit of {self.limiter.per_minute} requests per minute exceeded; retry later",
                headers={"Retry-After": str(wait)},
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    auto_error=False,
    description="A key from `alliance-risk keys create NAME`.",
)
_bearer = HTTPBearer(
    scheme_name="OAuth2Bearer",
    bearerFormat="JWT",
    auto_error=False,
    description="An OAuth2 access token (JWT) with the configured scope.",
)


def require(access: Access) -> Any:
    """A router dependency: the caller must be identified and have `access`."""

    async def authorized_caller(
        request: Request,
        api_key: Annotated[str | None, Security(_api_key)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Caller:
        authenticator: Authenticator = request.app.state.authenticator
        caller = await authenticator.identify(
            request, api_key, bearer.credentials if bearer else None
        )
        request.state.caller = caller
        authenticator.authorize(caller, access)
        return caller

    return authorized_caller


#: The two router dependencies `service.app` applies: client data, and operating the service.
require_predict = require(Access.PREDICT)
require_admin = require(Access.ADMIN)
