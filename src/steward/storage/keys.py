"""API keys: create (the secret shown once, stored as a SHA-256 hash), list, revoke, load."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.engine import Engine, RowMapping

from steward.errors import InvalidRequestError, NotFoundError
from steward.storage.database import translate_errors
from steward.storage.tables import api_keys

__all__ = [
    "SECRET_PREFIX",
    "ApiKeyRow",
    "create_key",
    "hash_key",
    "list_keys",
    "load_active_keys",
    "revoke_key",
]

SECRET_PREFIX = "sk-stw-"
_SECRET_BYTES = 30  # 30 random bytes are 40 URL-safe base64 characters
_SHOWN_CHARS = len(SECRET_PREFIX) + 6


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """One stored key. The secret itself is never stored, only `key_hash`."""

    id: str
    name: str
    role: str
    key_hash: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def hash_key(secret: str) -> str:
    """The SHA-256 hex digest that identifies a secret in storage and in the key ring."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    engine: Engine, *, name: str, role: str = "app", expires_at: datetime | None = None
) -> tuple[ApiKeyRow, str]:
    """Store a new key and return it with its plaintext secret, which is never shown again."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    row = ApiKeyRow(
        id="key_" + secrets.token_hex(8),
        name=name,
        role=role,
        key_hash=hash_key(secret),
        prefix=secret[:_SHOWN_CHARS],
        created_at=datetime.now(UTC),
        expires_at=expires_at.astimezone(UTC) if expires_at else None,
    )
    with translate_errors(engine.url), engine.begin() as connection:
        connection.execute(api_keys.insert(), [_values(row)])
    return row, secret


def list_keys(engine: Engine) -> list[ApiKeyRow]:
    """Every key, oldest first, revoked and expired included."""
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    with translate_errors(engine.url), engine.connect() as connection:
        return [_row(r._mapping) for r in connection.execute(query)]


def revoke_key(engine: Engine, key_id_or_prefix: str) -> ApiKeyRow:
    """Revoke the key with this id, listed prefix, or secret; revoking twice changes nothing."""
    with translate_errors(engine.url), engine.begin() as connection:
        rows = [_row(r._mapping) for r in connection.execute(_match(key_id_or_prefix))]
        if not rows:
            raise NotFoundError(
                f"No API key has the id or prefix {key_id_or_prefix!r}; "
                "`steward keys list` shows them"
            )
        if len(rows) > 1:
            raise InvalidRequestError(
                f"{len(rows)} API keys match {key_id_or_prefix!r}; revoke by key id instead"
            )
        row = rows[0]
        if row.revoked_at is not None:
            return row
        now = datetime.now(UTC)
        connection.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=now))
    return ApiKeyRow(**{**_values(row), "revoked_at": now})


def load_active_keys(engine: Engine, now: datetime | None = None) -> dict[str, ApiKeyRow]:
    """Keys that are neither revoked nor expired at `now` (default: the current time), by hash."""
    now = now or datetime.now(UTC)
    query = select(api_keys).where(
        api_keys.c.revoked_at.is_(None),
        or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
    )
    with translate_errors(engine.url), engine.connect() as connection:
        rows = [_row(r._mapping) for r in connection.execute(query)]
    return {row.key_hash: row for row in rows}


def _match(key_id_or_prefix: str) -> Select[Any]:
    c = api_keys.c
    conditions = [c.id == key_id_or_prefix, c.prefix == key_id_or_prefix]
    if key_id_or_prefix.startswith(SECRET_PREFIX):
        conditions.append(c.key_hash == hash_key(key_id_or_prefix))
    return select(api_keys).where(or_(*conditions))


def _values(row: ApiKeyRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _FIELDS}


def _row(mapping: RowMapping) -> ApiKeyRow:
    return ApiKeyRow(**{name: mapping[name] for name in _FIELDS})


_FIELDS = tuple(f.name for f in fields(ApiKeyRow))
