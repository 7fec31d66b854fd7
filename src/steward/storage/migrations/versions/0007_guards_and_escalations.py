"""Records carry guard decisions, a confidence score and whether the call was escalated;
escalation items get a table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("guards", sa.Text(), nullable=True))
        batch.add_column(sa.Column("confidence", sa.Float(), nullable=True))
        batch.add_column(sa.Column("escalated", sa.Boolean(), nullable=True))
    op.create_table(
        "escalations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("public_model", sa.String(200), nullable=True),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("context", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalations"),
    )
    op.create_index("ix_escalations_created_at", "escalations", ["created_at"])
    op.create_index("ix_escalations_request_id", "escalations", ["request_id"])
    op.create_index("ix_escalations_team_id", "escalations", ["team_id"])


def downgrade() -> None:
    op.drop_index("ix_escalations_team_id", table_name="escalations")
    op.drop_index("ix_escalations_request_id", table_name="escalations")
    op.drop_index("ix_escalations_created_at", table_name="escalations")
    op.drop_table("escalations")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("escalated")
        batch.drop_column("confidence")
        batch.drop_column("guards")
