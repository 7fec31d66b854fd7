"""Request records: idempotent batch inserts and the reads the admin API and tests need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.storage.database import translate_errors
from steward.storage.records import RequestRecord
from steward.storage.tables import requests

__all__ = ["count_records", "get_record", "insert_records", "list_records"]

_FIELDS = tuple(f.name for f in fields(RequestRecord))


def insert_records(conn_or_engine: Connection | Engine, records: Sequence[RequestRecord]) -> None:
    """Insert records in one transaction, skipping ids already stored (so replays are harmless).

    Given a `Connection`, the caller owns the transaction and commits it.
    """
    if not records:
        return
    rows = [{name: getattr(record, name) for name in _FIELDS} for record in records]
    statement = _insert_ignoring_duplicates(conn_or_engine.dialect.name)
    if isinstance(conn_or_engine, Connection):
        with translate_errors(conn_or_engine.engine.url):
            conn_or_engine.execute(statement, rows)
        return
    with translate_errors(conn_or_engine.url), conn_or_engine.begin() as connection:
        connection.execute(statement, rows)


def _insert_ignoring_duplicates(dialect: str) -> Insert:
    if dialect == "sqlite":
        return sqlite.insert(requests).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(requests).on_conflict_do_nothing()
    raise NotImplementedError(f"no idempotent insert for the {dialect} dialect")


def count_records(engine: Engine) -> int:
    with translate_errors(engine.url), engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(requests)).scalar_one())


def get_record(engine: Engine, record_id: str) -> RequestRecord | None:
    query = select(requests).where(requests.c.id == record_id)
    with translate_errors(engine.url), engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return _record(row) if row is not None else None


def list_records(engine: Engine, limit: int = 100) -> list[RequestRecord]:
    """The newest `limit` records, newest first."""
    query = (
        select(requests).order_by(requests.c.created_at.desc(), requests.c.id.desc()).limit(limit)
    )
    with translate_errors(engine.url), engine.connect() as connection:
        return [_record(row) for row in connection.execute(query).mappings()]


def _record(row: RowMapping) -> RequestRecord:
    values: dict[str, Any] = {name: row[name] for name in _FIELDS}
    return RequestRecord(**values)
