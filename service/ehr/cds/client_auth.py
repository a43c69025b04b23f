"""Who the CDS client is: its signed JWT, checked as CDS Hooks 2.0 "Trusting CDS Clients" says.

Secure by default: with authentication on (the default) and no keys, issuers or audience
configured, every call to a CDS service or its feedback endpoint gets 401, and the log
says what to set. `ALLIANCE_RISK_AUTH=disabled` (local development only) lets calls in
unchecked. Discovery stays open: it lists services and prefetch templates, no client data.

The expected `aud` is the configured public base URL plus the endpoint's path, e.g.
`https://risk.example.org/cds-services/alliance-risk-patient-view`: never taken from the
request's Host header, which the caller controls.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from service.ehr.cds.records import CdsRecords
from service.security.jwt import CDS_REQUIRED_CLAIMS, JwtVerifier, TokenRejectedError, bearer_token
from service.security.keys import KeyConfigurationError, load_keys
from service.security.replay import ReplayCache
from service.settings import Settings

logger = logging.getLogger("alliance_risk.cds")

LOCAL_DEVELOPER = "cds:local-development (auth disabled)"
#: The security scheme of the CDS endpoints in the API description.
CDS_CLIENT_JWT = "CdsClientJwt"
CDS_CLIENT_JWT_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT the CDS client signs for each call (CDS Hooks 2.0, Trusting CDS "
    "Clients), with `aud` set to this endpoint's public URL and a fresh `jti`.",
}
_CHALLENGE = 'Bearer realm="alliance-risk cds-services"'


@dataclass(frozen=True)
class CdsClient:
    """The caller, as recorded in the audit trail (`name`)."""

    name: str
    issuer: str | None = None
    tenant: str | None = None


class CdsAuthenticator:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        """`engine` is the shared database where used token ids are kept."""
        self.enabled = settings.auth == "enabled"
        self.base_url = (settings.cds_audience or "").rstrip("/")
        self.problem: str | None = None
        self.verifier: JwtVerifier | None = None
        if not self.enabled:
            return
        if not (settings.cds_jwks and settings.cds_issuers and settings.cds_audience):
            self.problem = (
                "CDS Hooks calls are refused: set ALLIANCE_RISK_CDS_JWKS (the EHR's public "
                "keys), ALLIANCE_RISK_CDS_ISSUERS and ALLIANCE_RISK_CDS_AUDIENCE (this "
                "service's public base URL)"
            )
        else:
            try:
                keys = load_keys(
                    settings.cds_jwks, timeout_seconds=settings.fhir_fetch_timeout_seconds
                )
                self.verifier = JwtVerifier(
                    keys,
                    issuers=settings.cds_issuers,
                    required_claims=CDS_REQUIRED_CLAIMS,
                    required_type="JWT",
                    replay_cache=ReplayCache(engine),
                )
            except KeyConfigurationError as error:
                self.problem = f"CDS Hooks calls are refused: ALLIANCE_RISK_CDS_JWKS: {error}"
        if self.problem:
            logger.error(self.problem)

    async def identify(self, request: Request, endpoint_path: str) -> CdsClient:
        if not self.enabled:
            if not _local(request):
                raise HTTPException(
                    403, "authentication is disabled, so only this machine may call the service"
                )
            return CdsClient(LOCAL_DEVELOPER)
        if self.verifier is None:
            raise _unauthorized("CDS client authentication is not configured on this service")
        try:
            token = bearer_token(request.headers.get("Authorization"))
            # A JWKS URL may be fetched: keep it off the event loop.
            claims = await run_in_threadpool(
                self.verifier.verify, token, audience=self.base_url + endpoint_path
            )
        except TokenRejectedError as error:
            raise _unauthorized(error.reason) from None
        tenant = claims.get("tenant")
        return CdsClient(
            f"cds:{claims['iss']}", claims["iss"], tenant if isinstance(tenant, str) else None
        )


def _local(request: Request) -> bool:
    """Whether the caller is on this machine (a name that is not an address counts, as in
    tests; a reverse proxy on this machine is the operator's responsibility)."""
    host = request.client.host if request.client else "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": _CHALLENGE})


@dataclass
class CdsState:
    auth: CdsAuthenticator
    records: CdsRecords


_state_lock = threading.Lock()


def cds_state(request: Request) -> CdsState:
    """The app's CDS authenticator and records, made on first use from its settings; both
    keep their state in the audit trail's database, which every replica shares."""
    state = getattr(request.app.state, "cds", None)
    if state is None:
        with _state_lock:
            state = getattr(request.app.state, "cds", None)
            if state is None:
                settings: Settings = request.app.state.settings
                trail = request.app.state.audit_trail
                state = CdsState(
                    CdsAuthenticator(settings, trail.engine),
                    CdsRecords(trail.engine, retention_days=settings.cds_retention_days),
                )
                request.app.state.cds = state
    return state
