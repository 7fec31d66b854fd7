"""Request records on SQLite and PostgreSQL: idempotent batch inserts and reads."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.engine import Engine

from steward.errors import StorageError
from steward.storage import database
from steward.storage.requests import count_records, get_record, insert_records, list_records
from tests.storage.sample_records import make_records


def test_insert_is_idempotent_on_id(engine: Engine) -> None:
    records = make_records(50)
    insert_records(engine, records)
    insert_records(engine, records[10:20] + make_records(5, start=50))
    insert_records(engine, [records[0], records[0]])
    assert count_records(engine) == 55


def test_records_read_back_equal(engine: Engine) -> None:
    records = make_records(3)
    insert_records(engine, records)
    assert [get_record(engine, r.id) for r in records] == records
    assert get_record(engine, "missing") is None


def test_list_records_is_newest_first(engine: Engine) -> None:
    records = make_records(10)
    insert_records(engine, records)
    assert list_records(engine, limit=3) == records[::-1][:3]
    assert len(list_records(engine)) == 10


def test_insert_on_a_connection_joins_the_callers_transaction(engine: Engine) -> None:
    with engine.connect() as connection:
        insert_records(connection, make_records(4))
        connection.rollback()
    assert count_records(engine) == 0
    with engine.begin() as connection:
        insert_records(connection, make_records(4))
        insert_records(connection, [])
    assert count_records(engine) == 4


def test_a_refused_record_is_a_rejected_storage_error(engine: Engine) -> None:
    bad = dataclasses.replace(make_records(1)[0], status=None)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="rejected the data") as caught:
        insert_records(engine, [*make_records(3, start=1), bad])
    assert caught.value.code == database.REJECTED
    assert count_records(engine) == 0
