"""The audit trail: who asked for what about whom, committed before the answer leaves.

`store` keeps the records (SQLAlchemy: SQLite in WAL mode by default, PostgreSQL by URL);
`notes` is what a route fills in while it answers; `middleware` writes one transaction per
call at the moment the response would start, and sends a 503 instead if it cannot.
"""

from service.audit.notes import AuditNotes
from service.audit.store import AuditRecord, AuditTrail

__all__ = ["AuditNotes", "AuditRecord", "AuditTrail"]
