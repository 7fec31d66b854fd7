"""URLs, engines, migrations, readiness and error translation, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading
from dataclasses import fields
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from steward.errors import ConfigError, StorageError
from steward.storage import database, requests, tables
from steward.storage.records import RequestRecord
from steward.storage.tables import metadata


def test_relative_sqlite_path_resolves_against_the_config_dir(tmp_path: Path) -> None:
    url = database.normalise_url("sqlite:///data/steward.db", tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve()}/data/steward.db"
    assert (tmp_path / "data").is_dir()


def test_absolute_and_memory_sqlite_urls_are_kept(tmp_path: Path) -> None:
    absolute = f"sqlite:///{tmp_path}/x.db"
    assert database.normalise_url(absolute, Path("/elsewhere")) == absolute
    assert database.normalise_url("sqlite://", tmp_path) == "sqlite://"
    assert database.normalise_url("sqlite:///:memory:", tmp_path) == "sqlite:///:memory:"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:pw@db:5432/app",
        "postgresql://u:pw@db:5432/app",
        "postgresql+psycopg://u:pw@db:5432/app",
    ],
)
def test_postgres_urls_use_psycopg3(url: str, tmp_path: Path) -> None:
    assert database.normalise_url(url, tmp_path) == "postgresql+psycopg://u:pw@db:5432/app"


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "not a url", "redis://localhost"]
)
def test_other_urls_are_config_errors(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sqlite:///.*postgresql://"):
        database.normalise_url(url, tmp_path)


def test_migrations_create_exactly_the_tables(engine: Engine) -> None:
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(tables.metadata.tables) | {"alembic_version"}
    for name, table in tables.metadata.tables.items():
        migrated = {c["name"] for c in inspector.get_columns(name)}
        assert migrated == {c.name for c in table.columns}, name
        declared = {tuple(c.name for c in ix.columns) for ix in table.indexes}
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(name)}
        assert declared <= indexed, name
    columns = [c["name"] for c in inspector.get_columns("requests")]
    assert columns == [f.name for f in fields(RequestRecord)]


def test_migrations_match_tables_py(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_twice_is_harmless_and_check_turns_ready(engine_url: str) -> None:
    engine = database.make_engine(engine_url)
    try:
        reason = database.check(engine)
        assert reason is not None
        assert "steward db upgrade" in reason
        database.upgrade(engine)
        database.upgrade(engine)
        assert database.check(engine) is None
    finally:
        engine.dispose()


def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = database.normalise_url("sqlite:///steward.db", tmp_path)
    database.upgrade(url)
    engine = database.make_engine(url)
    try:
        assert database.check(engine) is None
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path}/w.db", busy_timeout_ms=1234)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1234
    finally:
        engine.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_server_is_a_storage_error_without_the_password() -> None:
    engine = database.make_engine(f"postgresql://steward:hunter2@127.0.0.1:{_closed_port()}/x")
    try:
        with pytest.raises(StorageError) as caught:
            requests.count_records(engine)
        assert database.check(engine) == caught.value.message
    finally:
        engine.dispose()
    message = caught.value.message
    assert message.startswith("Cannot reach the database at postgresql://steward:***@127.0.0.1:")
    assert "(connection refused); check [storage] url or start the server" in message
    assert "hunter2" not in message
    assert caught.value.code == database.UNAVAILABLE
    assert caught.value.http_status == 503


def test_missing_tables_say_to_upgrade(engine_url: str) -> None:
    engine = database.make_engine(engine_url)
    try:
        with pytest.raises(StorageError, match=r"has no Steward tables .*steward db upgrade"):
            requests.count_records(engine)
    finally:
        engine.dispose()


def test_concurrent_upgrades_serialise(engine_url: str) -> None:
    """Several workers starting at once all migrate the same fresh database."""
    engines = [database.make_engine(engine_url) for _ in range(4)]
    errors: list[Exception] = []
    barrier = threading.Barrier(len(engines))

    def migrate(engine: Engine) -> None:
        barrier.wait()
        try:
            database.upgrade(engine)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    try:
        assert errors == []
        assert database.check(engines[0]) is None
    finally:
        for engine in engines:
            engine.dispose()


def test_a_database_from_a_newer_steward_is_reported(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert database.check(engine) == (
        f"The database at {database.redacted(engine.url)} has schema revision 9999, "
        "from a newer Steward"
    )
    with pytest.raises(StorageError, match="created by a newer Steward"):
        database.upgrade(engine)
