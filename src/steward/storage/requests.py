"""Request records: idempotent batch inserts and the reads the admin API and tests need."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Dialect, Engine, RowMapping

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
    sql, processors = _insert_ignoring_duplicates(conn_or_engine.dialect)
    rows = [
        tuple(
            value if p is None else p(value)
            for p, value in zip(processors, _values(r), strict=True)
        )
        for r in records
    ]
    if isinstance(conn_or_engine, Connection):
        with translate_errors(conn_or_engine.engine.url):
            conn_or_engine.exec_driver_sql(sql, rows)
        return
    with translate_errors(conn_or_engine.url), conn_or_engine.begin() as connection:
        connection.exec_driver_sql(sql, rows)


_values = operator.attrgetter(*_FIELDS)
_Processor = Callable[[Any], Any]
_STATEMENTS: dict[tuple[str, str], tuple[str, list[_Processor | None]]] = {}


def _insert_ignoring_duplicates(dialect: Dialect) -> tuple[str, list[_Processor | None]]:
    """`INSERT ... ON CONFLICT (id) DO NOTHING` in the driver's own parameter style.

    Sent with `exec_driver_sql` and tuples, which costs half the CPU of a Core `insert()`;
    values still go through each column type's bind processor, as Core would do.
    """
    key = (dialect.name, dialect.paramstyle)
    if key not in _STATEMENTS:
        if dialect.name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"no idempotent insert for the {dialect.name} dialect")
        quote = dialect.identifier_preparer.quote
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        columns = [requests.c[name] for name in _FIELDS]
        sql = (
            f"INSERT INTO {quote(requests.name)} ({', '.join(quote(c.name) for c in columns)}) "
            f"VALUES ({', '.join([marker] * len(columns))}) ON CONFLICT ({quote('id')}) DO NOTHING"
        )
        _STATEMENTS[key] = (
            sql,
            [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns],
        )
    return _STATEMENTS[key]


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
