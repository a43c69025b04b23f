"""Read a CDS call's client history: from prefetch and, where needed, the EHR's FHIR server.

`gather` collects the resources the prefetch templates ask for; a resource they only
reference (the therapist, when the episode did not include it) is then read from the
server. Without a usable server, `PreconditionFailedError` says why (HTTP 412).
"""

from __future__ import annotations

import functools
import ssl
from contextlib import AsyncExitStack

import certifi
import httpx

from data_schemas.fhir import FhirHistory, MissingResourceError, history_from_resources
from service.ehr.cds.gather import Fetcher, FhirServer, PreconditionFailedError, gather
from service.ehr.cds.hooks import CdsRequest


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every call: building one loads the CA bundle, which cost about
    30 ms per hook call, most of the answer's time, even when prefetch made it unused."""
    return ssl.create_default_context(cafile=certifi.where())


async def client_history(call: CdsRequest, patient_id: str, timeout: float) -> FhirHistory:
    """The client history from prefetch and, where needed, the EHR's FHIR server."""
    try:
        server = FhirServer.of(call, timeout)
        server_problem = None
    except PreconditionFailedError as error:
        server, server_problem = None, error
    async with AsyncExitStack() as stack:
        # An HTTP client only with a server to read from: making and closing one took a
        # seventh of a prefetch-only call's reading time, for nothing.
        fetcher = None
        if server is not None:
            http = httpx.AsyncClient(follow_redirects=False, verify=_tls_context())
            fetcher = Fetcher(server, await stack.enter_async_context(http))
        try:
            resources = await gather(call, patient_id, fetcher)
        except PreconditionFailedError:
            # Without a usable server, say why the server could not be used.
            if server_problem is not None:
                raise server_problem from None
            raise
        try:
            return history_from_resources(resources, patient_id=patient_id)
        except MissingResourceError as missing:
            if fetcher is None:
                raise PreconditionFailedError(
                    f"{missing.issues[0].message}, and no fhirServer with fhirAuthorization "
                    "was given to read it from"
                ) from None
            resources += await fetcher.reference(missing.reference)
            return history_from_resources(resources, patient_id=patient_id)
