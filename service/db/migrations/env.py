"""Alembic's entry point: run the revisions on the connection `service.db.schema` passes in.

That connection is already in a transaction (and, on PostgreSQL, holds the migration lock),
so Alembic joins it instead of opening one of its own.
"""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
