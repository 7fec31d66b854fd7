"""The newest captured payload rows of a window, for drift over response text."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from steward.storage.aggregates import Window
from steward.storage.database import translate_errors
from steward.storage.payloads import PayloadRow
from steward.storage.tables import payloads

__all__ = ["recent_payloads"]


def recent_payloads(engine: Engine, window: Window, *, limit: int) -> list[PayloadRow]:
    """Up to `limit` payload rows of the window's model, newest first, still sealed."""
    created = payloads.c.created_at
    query = select(payloads).where(created >= window.since, created < window.until)
    if window.model is not None:
        query = query.where(payloads.c.public_model == window.model)
    query = query.order_by(created.desc()).limit(limit)
    with translate_errors(engine.url), engine.connect() as connection:
        return [
            PayloadRow(
                request_id=row["request_id"],
                created_at=row["created_at"],
                policy=row["policy"],
                body=bytes(row["body"]),
                key_id=row["key_id"],
                nonce=bytes(row["nonce"]) if row["nonce"] is not None else None,
                public_model=row["public_model"],
                team_id=row["team_id"],
                user=row["user"],
            )
            for row in connection.execute(query).mappings()
        ]
