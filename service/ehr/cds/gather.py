"""Collect the FHIR resources a CDS call needs: from prefetch, else from the EHR's server.

CDS Hooks 2.0: a prefetch key that is present satisfies its template, and a null value
means the EHR has no such data; an absent key, or an OperationOutcome in its place, means
the data were not prefetched. Those the service reads itself from `fhirServer` with the
`fhirAuthorization` bearer token, when both are given. "If the CDS Service is unable to
obtain required data because it cannot access the FHIR server and the request did not
contain the necessary prefetch keys, the service SHALL respond with an HTTP 412
Precondition Failed status code": that is `PreconditionFailedError`.

The FHIR server must use https (CDS Hooks: "The scheme MUST be https when production data
is exchanged"); plain http is allowed to a loopback address only, for local testing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from data_schemas.fhir import Located, entries, parse_resource
from service.ehr.cds.catalog import PATIENT_TOKEN, PREFETCH
from service.ehr.cds.hooks import CdsRequest

#: FHIR's id syntax; anything else in context.patientId could rewrite the FHIR query.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: Pages of one search followed at most (a prefetch may be paginated).
MAX_PAGES = 10


class PreconditionFailedError(Exception):
    """The data needed cannot be had from prefetch nor from the FHIR server (HTTP 412)."""


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class FhirServer:
    """The EHR's FHIR endpoint and the token it gave the service for this call."""

    base: str
    token: str
    timeout_seconds: float

    @classmethod
    def of(cls, request: CdsRequest, timeout_seconds: float) -> FhirServer | None:
        if not request.fhir_server or request.fhir_authorization is None:
            return None
        base = request.fhir_server.rstrip("/")
        parts = urlsplit(base)
        if not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname))):
            raise PreconditionFailedError(
                "fhirServer must be an https URL (plain http is allowed to loopback only)"
            )
        return cls(base, request.fhir_authorization.access_token, timeout_seconds)

    def url(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}"

    def owns(self, url: str) -> bool:
        return url == self.base or url.startswith(self.base + "/")


def patient_id_of(request: CdsRequest) -> str:
    patient_id = request.context.get("patientId")
    if not isinstance(patient_id, str) or not FHIR_ID.match(patient_id):
        raise ValueError("context.patientId must be a FHIR id (letters, digits, '-', '.')")
    return patient_id


def _next_link(bundle: Bundle) -> str | None:
    return next((link.url for link in bundle.link or [] if link.relation == "next"), None)


class Fetcher:
    """Reads from the EHR's FHIR server with the call's token, on this server only."""

    def __init__(self, server: FhirServer, client: httpx.AsyncClient) -> None:
        self.server = server
        self.client = client

    async def get(self, url: str, where: str, *, missing_ok: bool = False) -> Any:
        if not self.server.owns(url):
            raise PreconditionFailedError(f"{where}: refusing to follow a link off the FHIR server")
        try:
            response = await self.client.get(
                url,
                headers={
                    "Authorization": f"Bearer {self.server.token}",
                    "Accept": "application/fhir+json",
                },
                timeout=self.server.timeout_seconds,
            )
        except httpx.HTTPError as error:
            raise PreconditionFailedError(
                f"{where}: the FHIR server could not be read ({type(error).__name__})"
            ) from None
        if missing_ok and response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise PreconditionFailedError(
                f"{where}: the FHIR server answered HTTP {response.status_code}"
            )
        try:
            return response.json()
        except ValueError:
            raise PreconditionFailedError(
                f"{where}: the FHIR server's answer is not JSON"
            ) from None

    async def pages(self, bundle: Bundle, where: str) -> list[Located]:
        """The entries of a search Bundle and of the pages after it."""
        found = entries(bundle, where)
        for page in range(1, MAX_PAGES):
            url = _next_link(bundle)
            if url is None:
                return found
            page_where = f"{where}.page[{page}]"
            page_bundle = parse_resource(await self.get(url, page_where), page_where)
            if not isinstance(page_bundle, Bundle):
                raise PreconditionFailedError(f"{page_where}: a search page must be a Bundle")
            bundle = page_bundle
            found += entries(bundle, page_where)
        raise PreconditionFailedError(f"{where}: more than {MAX_PAGES} pages of results")

    async def key(self, key: str, patient_id: str) -> list[Located]:
        where = f"fhirServer.{key}"
        relative = PREFETCH[key].replace(PATIENT_TOKEN, patient_id)
        data = await self.get(self.server.url(relative), where, missing_ok=key == "patient")
        return await self.located(data, where)

    async def located(self, data: Any, where: str) -> list[Located]:
        if data is None:
            return []
        resource = parse_resource(data, where)
        if isinstance(resource, OperationOutcome):
            raise PreconditionFailedError(f"{where}: the FHIR server answered with an error")
        if isinstance(resource, Bundle):
            return await self.pages(resource, where)
        return [Located(resource, where)]

    async def reference(self, reference: str) -> list[Located]:
        """One referenced resource (the therapist, when the episode did not include it)."""
        url = reference if "://" in reference else self.server.url(reference)
        return await self.located(
            await self.get(url, "fhirServer.reference"), "fhirServer.reference"
        )


async def gather(request: CdsRequest, patient_id: str, fetcher: Fetcher | None) -> list[Located]:
    """Every resource the prefetch templates ask for, from prefetch or, with a `fetcher`,
    the FHIR server."""
    prefetch = request.prefetch or {}
    found: list[Located] = []
    missing: list[str] = []
    for key in PREFETCH:
        if key not in prefetch:
            missing.append(key)
            continue
        if prefetch[key] is None:
            continue
        where = f"prefetch.{key}"
        resource = parse_resource(prefetch[key], where)
        if isinstance(resource, OperationOutcome):
            missing.append(key)
        elif isinstance(resource, Bundle):
            if _next_link(resource) is not None and fetcher is None:
                missing.append(key)
            elif fetcher is not None:
                found += await fetcher.pages(resource, where)
            else:
                found += entries(resource, where)
        else:
            found.append(Located(resource, where))
    if not missing:
        return found
    if fetcher is None:
        raise PreconditionFailedError(
            f"prefetch lacks {', '.join(missing)} and no fhirServer with fhirAuthorization "
            "was given to read them from"
        )
    for fetched in await asyncio.gather(*(fetcher.key(key, patient_id) for key in missing)):
        found += fetched
    return found
