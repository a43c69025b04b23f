"""Secrets the service makes for itself when the operator set none: one file each in home.

Good for one machine. Several replicas must share the secret, so each one's setting says
to set it; the warning on creation says the same.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger("alliance_risk.security")


def load_or_create_key(home: Path, file_name: str, setting: str) -> bytes:
    """The secret in `<home>/<file_name>`, created (random, mode 0600) on first use."""
    path = home / file_name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        logger.warning(
            "created a new secret %s in ALLIANCE_RISK_HOME; set %s to a long random value, "
            "the same on every replica, and keep it safe",
            file_name,
            setting,
        )
    return path.read_text().strip().encode()
