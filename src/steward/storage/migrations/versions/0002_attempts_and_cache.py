"""Request records carry every routing attempt and the cache outcome.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("attempts", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempt_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cache", sa.String(16), nullable=True))
        batch.add_column(sa.Column("cache_similarity", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("cache_similarity")
        batch.drop_column("cache")
        batch.drop_column("attempt_count")
        batch.drop_column("attempts")
