"""Storage fixtures: every test runs on SQLite and on PostgreSQL, each in a fresh database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine, make_url

from steward.storage import database
from tests.storage.tcp_proxy import TcpProxy


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a SQLite file, or a new PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'steward.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def engine(engine_url: str) -> Iterator[Engine]:
    """A migrated engine on `engine_url`."""
    engine = database.make_engine(engine_url)
    database.upgrade(engine)
    yield engine
    engine.dispose()


@dataclass
class FlakyDatabase:
    """A database the test can take away from `engine` (and give back); `direct` always works."""

    engine: Engine
    direct: Engine
    cut: Callable[[], None]
    restore: Callable[[], None]


@pytest.fixture
def flaky_db(engine_url: str) -> Iterator[FlakyDatabase]:
    """SQLite: another connection holds an exclusive lock. PostgreSQL: a TCP proxy is cut."""
    direct = database.make_engine(engine_url)
    database.upgrade(direct)
    if engine_url.startswith("sqlite"):
        yield from _flaky_sqlite(engine_url, direct)
    else:
        yield from _flaky_postgres(engine_url, direct)
    direct.dispose()


def _flaky_sqlite(url: str, direct: Engine) -> Iterator[FlakyDatabase]:
    path = make_url(url).database
    assert path
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    engine = database.make_engine(url, busy_timeout_ms=50)

    def cut() -> None:
        locker.execute("BEGIN EXCLUSIVE")

    def restore() -> None:
        locker.execute("ROLLBACK")

    yield FlakyDatabase(engine, direct, cut, restore)
    if locker.in_transaction:
        locker.execute("ROLLBACK")
    locker.close()
    engine.dispose()


def _flaky_postgres(url: str, direct: Engine) -> Iterator[FlakyDatabase]:
    parsed = make_url(url)
    with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        proxied = parsed.set(host="127.0.0.1", port=proxy.port)
        engine = database.make_engine(proxied.render_as_string(hide_password=False))
        yield FlakyDatabase(engine, direct, proxy.cut, proxy.restore)
        engine.dispose()
