"""Database URLs, engines, migrations and readiness; SQLAlchemy errors become `StorageError` here.

SQLite (stdlib `sqlite3`) and PostgreSQL (psycopg 3) through synchronous SQLAlchemy Core engines.
All database work runs on background threads, never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import StaticPool

from steward.errors import ConfigError, StorageError

__all__ = [
    "REJECTED",
    "UNAVAILABLE",
    "UPGRADE_HINT",
    "check",
    "head_revision",
    "make_engine",
    "normalise_url",
    "redacted",
    "storage_error",
    "translate_errors",
    "upgrade",
]

UNAVAILABLE = "storage_unavailable"
"""`StorageError.code` when retrying later can succeed (server down, lock held, schema missing)."""
REJECTED = "storage_rejected"
"""`StorageError.code` when the database refused the data itself; retrying will not help."""
UPGRADE_HINT = "run `steward db upgrade`"

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_SQLITE_BUSY_TIMEOUT_MS = 5000
_LOCKED_RETRIES = 5
_PG_CONNECT_TIMEOUT_S = 3
# Any constant works; it only has to be the same in every process that migrates.
_MIGRATION_LOCK_KEY = 0x5354_4557_4152_44
_SHORT_REASONS = (
    ("connection refused", "connection refused"),
    ("timeout expired", "connection timed out"),
    ("timed out", "connection timed out"),
    ("could not translate host name", "unknown host"),
    ("name or service not known", "unknown host"),
    ("password authentication failed", "password authentication failed"),
    ("server closed the connection", "the server closed the connection"),
    ("database is locked", "database is locked"),
    ("unable to open database file", "unable to open the database file"),
)


def normalise_url(url: str, base_dir: Path) -> str:
    """Resolve a configured URL: relative SQLite paths against `base_dir`, PostgreSQL to psycopg 3.

    Creates the parent directory of a SQLite file. Raises `ConfigError` for other schemes.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"[storage] url {url!r} is not a database URL; use sqlite:///path/to/steward.db "
            "or postgresql://user@host:5432/dbname"
        ) from exc
    scheme, _, driver = parsed.drivername.partition("+")
    if scheme == "sqlite" and driver in ("", "pysqlite"):
        return _normalise_sqlite(parsed, base_dir)
    if scheme in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return _render(parsed.set(drivername="postgresql+psycopg"))
    raise ConfigError(
        f"[storage] url scheme {parsed.drivername!r} is not supported; "
        "use sqlite:///path/to/steward.db or postgresql://user@host:5432/dbname"
    )


def _normalise_sqlite(parsed: URL, base_dir: Path) -> str:
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        path = (path if path.is_absolute() else base_dir / path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        database = str(path)
    # Rendered by hand: SQLAlchemy would percent-escape ':' and spaces in the path.
    query = "&".join(f"{k}={v}" for k, v in parsed.query.items())
    return f"sqlite:///{database}" + (f"?{query}" if query else "") if database else "sqlite://"


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def redacted(url: URL | str) -> str:
    """The URL as shown in messages: no password, no driver name."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


def make_engine(url: str, *, busy_timeout_ms: int = _SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """A synchronous engine: SQLite in WAL mode with a busy timeout, or a small psycopg pool."""
    if url.startswith(("postgresql://", "postgres://")):
        url = normalise_url(url, Path.cwd())
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{url!r} is not a database URL; see [storage] url") from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms)
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=4,
        pool_recycle=1800,
        connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S},
    )


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> Engine:
    in_memory = not url.database or url.database == ":memory:"
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # One shared connection, or every thread would see its own empty in-memory database.
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # WAL with synchronous=NORMAL survives process crashes; only power loss can drop commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision`; concurrent callers (several workers) serialise."""
    if isinstance(engine_or_url, str):
        engine = make_engine(engine_or_url)
        try:
            upgrade(engine, revision)
        finally:
            engine.dispose()
        return
    config = _alembic_config()
    for attempt in range(_LOCKED_RETRIES + 1):
        try:
            with engine_or_url.begin() as connection:
                _lock_for_migration(connection)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            return
        except OperationalError as exc:
            # SQLite answers "locked" without waiting when switching a fresh file to WAL
            # races another migrating process; the busy timeout does not cover that.
            if "database is locked" not in str(exc.orig).lower() or attempt == _LOCKED_RETRIES:
                raise storage_error(exc, engine_or_url.url) from exc
            time.sleep(0.1 * (attempt + 1))
        except SQLAlchemyError as exc:
            raise storage_error(exc, engine_or_url.url) from exc
        except CommandError as exc:
            raise StorageError(
                f"Cannot migrate the database at {redacted(engine_or_url.url)} ({exc}); "
                "was it created by a newer Steward?"
            ) from exc


def _lock_for_migration(connection: Connection) -> None:
    """Serialise migrations between processes (workers start together); make them atomic."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # sqlite3 runs DDL outside any transaction unless one is open; take the write lock now.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of Steward."""
    head = _scripts().get_current_head()
    assert head is not None, "no migrations found"
    return head


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def check(engine: Engine) -> str | None:
    """Readiness: None when the database answers and its schema is current, else the reason."""
    try:
        with engine.connect() as connection:
            current = _current_revision(connection)
    except SQLAlchemyError as exc:
        return storage_error(exc, engine.url).message
    scripts = _scripts()
    head = scripts.get_current_head()
    if current == head:
        return None
    where = redacted(engine.url)
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        return f"The database at {where} has schema revision {current}, from a newer Steward"
    revision = current or "none"
    return f"The database at {where} is at schema revision {revision}, not {head}; {UPGRADE_HINT}"


def _current_revision(connection: Connection) -> str | None:
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def transaction(target: Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction: a new one committed at the end for an Engine, or the
    caller's own (whose transaction it joins) for a Connection. Errors become StorageError."""
    if isinstance(target, Connection):
        with translate_errors(target.engine.url):
            yield target
        return
    with translate_errors(target.url), target.begin() as connection:
        yield connection


@contextmanager
def translate_errors(url: URL | str) -> Iterator[None]:
    """Re-raise SQLAlchemy errors from the block as `StorageError`."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise storage_error(exc, url) from exc


def storage_error(exc: SQLAlchemyError, url: URL | str) -> StorageError:
    """A `StorageError` saying what failed and what to do; `code` tells retryable from not."""
    where = redacted(url)
    detail = str(getattr(exc, "orig", None) or exc).strip()
    lower = detail.lower()
    reason = _reason(detail)
    if "no such table" in lower or _pgcode(exc) == "42P01":
        message = f"The database at {where} has no Steward tables ({reason}); {UPGRADE_HINT}"
        return StorageError(message, code=UNAVAILABLE)
    if "database is locked" in lower:
        message = (
            f"The database at {where} is locked by another writer ({reason}); "
            "retry, or stop the process holding the lock"
        )
        return StorageError(message, code=UNAVAILABLE)
    if isinstance(exc, IntegrityError | DataError):
        message = f"The database at {where} rejected the data ({reason}); this is a bug, report it"
        return StorageError(message, code=REJECTED)
    if isinstance(exc, OperationalError | InterfaceError) or _invalidated(exc):
        message = (
            f"Cannot reach the database at {where} ({reason}); "
            "check [storage] url or start the server"
        )
        return StorageError(message, code=UNAVAILABLE)
    message = f"The database at {where} failed ({reason}); check the database server's logs"
    return StorageError(message, code=UNAVAILABLE)


def _reason(detail: str) -> str:
    lower = detail.lower()
    for needle, short in _SHORT_REASONS:
        if needle in lower:
            return short
    first_line = detail.splitlines()[0] if detail else "unknown error"
    return first_line[:200]


def _pgcode(exc: SQLAlchemyError) -> str | None:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code if isinstance(code, str) else None


def _invalidated(exc: SQLAlchemyError) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
