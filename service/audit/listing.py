"""Reading the trail back: the `alliance-risk audit` command's filters and rows."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from service.audit.store import AuditRecord

_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """A UTC time from an ISO date or date-time (UTC unless it says otherwise) or a duration
    back from now such as `30m`, `24h`, `7d` or `2w`."""
    now = now or dt.datetime.now(dt.UTC)
    match = _DURATION.match(text.strip().lower())
    if match:
        return now - dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since takes an ISO date or time (2026-03-01, 2026-03-01T14:00) or a "
            f"duration (30m, 24h, 7d, 2w), not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def as_row(record: AuditRecord) -> dict[str, Any]:
    """A record as plain values, times in UTC ISO format."""
    recorded = record.recorded_at
    if recorded.tzinfo is None:  # SQLite keeps no zone; the trail writes UTC
        recorded = recorded.replace(tzinfo=dt.UTC)
    return {
        "recorded_at": recorded.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
        "request_id": record.request_id,
        "caller": record.caller,
        "endpoint": record.endpoint,
        "status": record.status,
        "model_version": record.model_version,
        "client_hash": record.client_hash,
        "item_index": record.item_index,
        "item_status": record.item_status,
        "outcomes": record.outcomes,
    }


def outcome_summary(outcomes: dict[str, Any] | None) -> str:
    """`dropout 0.214 moderate; violence 0.031 low` for a table cell."""
    if not outcomes:
        return ""
    return "; ".join(
        f"{name} {values['probability']:.3f} {values['band']}" for name, values in outcomes.items()
    )


TABLE_HEADINGS = (
    "time (UTC)",
    "request",
    "caller",
    "endpoint",
    "status",
    "model",
    "client",
    "result",
)


def table_cells(row: dict[str, Any]) -> list[str]:
    """A row of `as_row` as the `audit` command's table shows it (ids shortened)."""
    status = str(row["status"])
    if row["item_index"] is not None:
        status += f" (item {row['item_index']}: {row['item_status']})"
    return [
        row["recorded_at"],
        row["request_id"][:12],
        row["caller"],
        row["endpoint"],
        status,
        row["model_version"] or "",
        (row["client_hash"] or "")[:16],
        outcome_summary(row["outcomes"]),
    ]
