"""Records name their end user; encrypted payloads and alert history get tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("user", sa.String(200), nullable=True))
    op.create_index("ix_requests_user", "requests", ["user"])
    op.create_table(
        "payloads",
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("public_model", sa.String(200), nullable=True),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("user", sa.String(200), nullable=True),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_payloads"),
    )
    op.create_index("ix_payloads_created_at", "payloads", ["created_at"])
    op.create_index("ix_payloads_user", "payloads", ["user"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_rule", "alerts", ["rule"])
    op.create_index("ix_alerts_started_at", "alerts", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_started_at", table_name="alerts")
    op.drop_index("ix_alerts_rule", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_payloads_user", table_name="payloads")
    op.drop_index("ix_payloads_created_at", table_name="payloads")
    op.drop_table("payloads")
    op.drop_index("ix_requests_user", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("user")
