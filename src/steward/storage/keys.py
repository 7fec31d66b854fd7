"""API keys: create (the secret shown once, stored as a SHA-256 hash), list, revoke, load."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.errors import InvalidRequestError, NotFoundError
from steward.storage.database import transaction
from steward.storage.tables import api_keys

__all__ = [
    "SECRET_PREFIX",
    "ApiKeyRow",
    "create_key",
    "get_key",
    "hash_key",
    "list_keys",
    "load_active_keys",
    "revoke_key",
    "rotate_key",
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
    team_id: str | None = None
    app_id: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    rotated_to: str | None = None
    """The key that replaced this one; both work until this one's `expires_at`."""

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def hash_key(secret: str) -> str:
    """The SHA-256 hex digest that identifies a secret in storage and in the key ring."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    target: Engine | Connection,
    *,
    name: str,
    role: str = "app",
    expires_at: datetime | None = None,
    team_id: str | None = None,
    app_id: str | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
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
        team_id=team_id,
        app_id=app_id,
        rpm=rpm,
        tpm=tpm,
    )
    with transaction(target) as connection:
        connection.execute(api_keys.insert(), [_values(row)])
    return row, secret


def list_keys(
    target: Engine | Connection, *, team_id: str | None = None, app_id: str | None = None
) -> list[ApiKeyRow]:
    """Every key, oldest first, revoked and expired included; only one team's when given."""
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if team_id is not None:
        query = query.where(api_keys.c.team_id == team_id)
    if app_id is not None:
        query = query.where(api_keys.c.app_id == app_id)
    with transaction(target) as connection:
        return [_row(r._mapping) for r in connection.execute(query)]


def get_key(target: Engine | Connection, key_id: str) -> ApiKeyRow | None:
    with transaction(target) as connection:
        found = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    return _row(found._mapping) if found else None


def rotate_key(
    target: Engine | Connection, key_id: str, *, overlap_s: float
) -> tuple[ApiKeyRow, ApiKeyRow, str]:
    """A new key like `key_id`; the old one keeps working for `overlap_s` more seconds.

    Returns (old key as updated, new key, new secret)."""
    with transaction(target) as connection:
        old = get_key(connection, key_id)
        if old is None or not old.active(datetime.now(UTC)):
            raise NotFoundError(f"No active API key has the id {key_id!r}; list keys to find it")
        new, secret = create_key(
            connection,
            name=old.name,
            role=old.role,
            expires_at=old.expires_at,
            team_id=old.team_id,
            app_id=old.app_id,
            rpm=old.rpm,
            tpm=old.tpm,
        )
        ends = datetime.now(UTC) + timedelta(seconds=overlap_s)
        if old.expires_at is not None and old.expires_at < ends:
            ends = old.expires_at
        connection.execute(
            update(api_keys)
            .where(api_keys.c.id == old.id)
            .values(expires_at=ends, rotated_to=new.id)
        )
    return ApiKeyRow(**{**_values(old), "expires_at": ends, "rotated_to": new.id}), new, secret


def revoke_key(target: Engine | Connection, key_id_or_prefix: str) -> ApiKeyRow:
    """Revoke the key with this id, listed prefix, or secret; revoking twice changes nothing."""
    with transaction(target) as connection:
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


def load_active_keys(
    target: Engine | Connection, now: datetime | None = None
) -> dict[str, ApiKeyRow]:
    """Keys that are neither revoked nor expired at `now` (default: the current time), by hash."""
    now = now or datetime.now(UTC)
    query = select(api_keys).where(
        api_keys.c.revoked_at.is_(None),
        or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
    )
    with transaction(target) as connection:
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
