"""API keys: generated once, stored only as hashes, compared in constant time.

A key is 32 random bytes (256 bits), so a single SHA-256 is the right hash: a slow
password hash protects guessable secrets, and nothing about a random key is guessable.
The configuration holds `caller name -> "sha256:<hex>"`; the key itself is shown once,
when it is created, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

KEY_PREFIX = "ar_"
HASH_SCHEME = "sha256"


class KeyConfigurationError(ValueError):
    """A configured key hash is not in the form `alliance-risk keys create` prints."""


def new_api_key() -> str:
    """A fresh key: the prefix makes leaked keys easy to recognise in secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The form stored in the configuration, e.g. `sha256:9f86d0...`."""
    return f"{HASH_SCHEME}:{hashlib.sha256(key.encode()).hexdigest()}"


def _digest(stored: str, caller: str) -> bytes:
    scheme, _, hex_digest = stored.partition(":")
    try:
        digest = bytes.fromhex(hex_digest)
    except ValueError:
        digest = b""
    if scheme != HASH_SCHEME or len(digest) != hashlib.sha256().digest_size:
        raise KeyConfigurationError(
            f"API key hash for caller {caller!r} must look like 'sha256:<64 hex digits>', "
            "as printed by `alliance-risk keys create NAME`"
        )
    return digest


class ApiKeyTable:
    """The configured keys, by caller name, as SHA-256 digests."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._digests = {caller: _digest(stored, caller) for caller, stored in hashes.items()}

    def __len__(self) -> int:
        return len(self._digests)

    def caller_for(self, presented: str) -> str | None:
        """The caller whose key this is, or None.

        Every configured digest is compared, whatever matched, so the time taken says
        nothing about which key (or how much of one) was right.
        """
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for caller, stored in self._digests.items():
            if hmac.compare_digest(digest, stored):
                found = caller
        return found
