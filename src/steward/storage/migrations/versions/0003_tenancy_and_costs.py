"""Teams, apps, budgets and the hash-chained audit log; keys and records carry team, app and cost.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("name", name="uq_teams_name"),
    )
    op.create_table(
        "apps",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("team_id", "name", name="uq_apps_team_id_name"),
    )
    op.create_index("ix_apps_team_id", "apps", ["team_id"])
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.String(200), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("limit_usd", sa.Float(), nullable=False),
        sa.Column("thresholds", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budgets"),
    )
    op.create_index("ix_budgets_team_id", "budgets", ["team_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=True),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_team_id", "audit_log", ["team_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("team_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("app_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rotated_to", sa.String(32), nullable=True))
    op.create_index("ix_api_keys_team_id", "api_keys", ["team_id"])
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("team_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("app_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
    op.create_index("ix_requests_team_id", "requests", ["team_id"])


def downgrade() -> None:
    op.drop_index("ix_requests_team_id", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("cost_usd")
        batch.drop_column("app_id")
        batch.drop_column("team_id")
    op.drop_index("ix_api_keys_team_id", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rotated_to")
        batch.drop_column("tpm")
        batch.drop_column("rpm")
        batch.drop_column("app_id")
        batch.drop_column("team_id")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_team_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_budgets_team_id", table_name="budgets")
    op.drop_table("budgets")
    op.drop_index("ix_apps_team_id", table_name="apps")
    op.drop_table("apps")
