"""Short-lived report links a clinician opens from the EHR's CDS card, in a browser.

The link carries its own state: the client's history, the model version that gave the
card's estimate and the CDS client it was issued to, sealed into the token with Fernet
(AES-128-CBC and HMAC-SHA256, `cryptography`). Nothing in the URL is readable, any
replica that shares `ALLIANCE_RISK_REPORT_LINK_KEY` can open it without asking another,
and a token changed by one bit, or used after its lifetime, is refused. The time a link
was made is inside the seal, so a link cannot be made to live longer.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from data_schemas.records import ClientHistory
from service.security.key_files import load_or_create_key
from service.settings import Settings

#: A link made "in the future" by up to this much clock difference between replicas is fine.
CLOCK_SKEW_SECONDS = 60
KEY_FILE_NAME = "report-link.key"
#: Separates this key's use from any other use of the same secret.
KEY_PURPOSE = b"alliance-risk report link v1"


class ReportLinkError(Exception):
    """The link cannot be opened; the message is safe to show and says what to do."""


class ReportLinkExpiredError(ReportLinkError):
    pass


class ReportLinkInvalidError(ReportLinkError):
    pass


@dataclass(frozen=True)
class LinkReader:
    """Whoever opens a link, as the audit trail records them: the CDS client it was issued to."""

    name: str


@dataclass(frozen=True)
class SealedReport:
    """What a link holds: whose report, from which model's estimate, issued to whom."""

    history: ClientHistory
    model_version: str | None
    issued_to: str


def fernet_key(secret: bytes) -> bytes:
    """A Fernet key derived from an operator's secret of any length (HKDF-SHA256)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(secret)
    return base64.urlsafe_b64encode(derived)


class ReportLinks:
    """Seals report links and opens them again, within `ttl_seconds` of sealing."""

    def __init__(
        self, secret: bytes, *, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._fernet = Fernet(fernet_key(secret))
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def seal(self, history: ClientHistory, *, model_version: str | None, issued_to: str) -> str:
        payload = {
            "history": history.model_dump(mode="json", exclude_none=True),
            "model_version": model_version,
            "issued_to": issued_to,
        }
        packed = zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 9)
        return self._fernet.encrypt_at_time(packed, int(self._clock())).decode()

    def open(self, token: str) -> SealedReport:
        """The sealed report, or `ReportLinkExpiredError` / `ReportLinkInvalidError`."""
        try:
            sealed_at = self._fernet.extract_timestamp(token)
            now = int(self._clock())
            if now - sealed_at > self.ttl_seconds:
                raise ReportLinkExpiredError(
                    f"this report link has expired (links last {self.ttl_seconds / 60:g} "
                    "minutes); open the client's chart in the EHR again for a new one"
                )
            if sealed_at > now + CLOCK_SKEW_SECONDS:
                raise ReportLinkInvalidError("this report link is not valid")
            payload = json.loads(zlib.decompress(self._fernet.decrypt(token)))
            return SealedReport(
                history=ClientHistory.model_validate(payload["history"]),
                model_version=payload["model_version"],
                issued_to=payload["issued_to"],
            )
        except ReportLinkError:
            raise
        except (InvalidToken, ValueError, KeyError, TypeError, zlib.error):
            raise ReportLinkInvalidError(
                "this report link is not valid: it was changed or is not a report link; "
                "open the report from the CDS card again"
            ) from None


def report_links_from(settings: Settings) -> ReportLinks:
    """The links the settings describe: their key (or a key file in home) and lifetime."""
    if settings.report_link_key is not None:
        secret = settings.report_link_key.get_secret_value().encode()
    else:
        secret = load_or_create_key(
            settings.home_directory, KEY_FILE_NAME, "ALLIANCE_RISK_REPORT_LINK_KEY"
        )
    return ReportLinks(secret, ttl_seconds=settings.report_link_minutes * 60)
