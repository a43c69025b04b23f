"""The audit trail, exactly as the service created it before migrations existed.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("client_hash", sa.String(64), nullable=True),
        sa.Column("item_index", sa.Integer(), nullable=True),
        sa.Column("item_status", sa.Integer(), nullable=True),
        sa.Column("outcomes", sa.JSON(), nullable=True),
    )
    for column in ("recorded_at", "request_id", "caller", "client_hash"):
        op.create_index(f"ix_audit_records_{column}", "audit_records", [column])


def downgrade() -> None:
    op.drop_table("audit_records")
