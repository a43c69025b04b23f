"""Test helper: the environment of a real server process with authentication on."""

from __future__ import annotations

import json
import os

from service.security.api_keys import hash_api_key


def server_environment(
    *, audit_database_url: str, audit_hmac_key: str, clinic_key: str, **more: str
) -> dict[str, str]:
    """Settings for `alliance-risk serve` against the test registry in ALLIANCE_RISK_HOME."""
    env = {
        "ALLIANCE_RISK_HOME": os.environ["ALLIANCE_RISK_HOME"],
        "ALLIANCE_RISK_AUTH": "enabled",
        "ALLIANCE_RISK_API_KEYS": json.dumps({"clinic-ehr": hash_api_key(clinic_key)}),
        "ALLIANCE_RISK_AUDIT_DATABASE_URL": audit_database_url,
        "ALLIANCE_RISK_AUDIT_HMAC_KEY": audit_hmac_key,
        "ALLIANCE_RISK_RATE_LIMIT_PER_MINUTE": "0",
    }
    env.update({f"ALLIANCE_RISK_{name.upper()}": value for name, value in more.items()})
    return env
