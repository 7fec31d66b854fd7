"""API keys on SQLite and PostgreSQL: secrets shown once, hashes stored, revocation, expiry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from steward.errors import NotFoundError
from steward.storage import keys
from steward.storage.tables import api_keys


def test_create_returns_the_secret_once_and_stores_its_hash(engine: Engine) -> None:
    row, secret = keys.create_key(engine, name="billing")
    assert re.fullmatch(r"sk-stw-[A-Za-z0-9_-]{40}", secret)
    assert row.key_hash == keys.hash_key(secret)
    assert len(row.key_hash) == 64
    assert secret.startswith(row.prefix)
    assert len(row.prefix) <= 16
    assert row.role == "app"
    assert row.revoked_at is None
    assert row.expires_at is None
    with engine.connect() as connection:
        stored = [tuple(r) for r in connection.execute(select(api_keys))]
    assert len(stored) == 1
    assert secret not in {str(v) for v in stored[0]}


def test_list_keys_returns_rows_with_utc_datetimes(engine: Engine) -> None:
    expires = datetime(2030, 1, 1, 12, tzinfo=UTC)
    first, _ = keys.create_key(engine, name="a", role="admin")
    second, _ = keys.create_key(engine, name="b", expires_at=expires)
    listed = keys.list_keys(engine)
    assert [r.id for r in listed] == [first.id, second.id]
    assert listed[0] == first
    assert listed[1].expires_at == expires
    assert listed[1].created_at.tzinfo is UTC


def test_load_active_keys_skips_revoked_and_expired(engine: Engine) -> None:
    now = datetime.now(UTC)
    live, _ = keys.create_key(engine, name="live")
    later, _ = keys.create_key(engine, name="later", expires_at=now + timedelta(hours=1))
    expired, _ = keys.create_key(engine, name="expired", expires_at=now - timedelta(seconds=1))
    revoked, _ = keys.create_key(engine, name="revoked")
    keys.revoke_key(engine, revoked.id)
    active = keys.load_active_keys(engine, now)
    assert active == {live.key_hash: live, later.key_hash: later}
    assert expired.key_hash not in keys.load_active_keys(engine)
    assert later.key_hash not in keys.load_active_keys(engine, now + timedelta(hours=2))


@pytest.mark.parametrize("by", ["id", "prefix", "secret"])
def test_revoke_by_id_prefix_or_secret(engine: Engine, by: str) -> None:
    row, secret = keys.create_key(engine, name="app")
    handle = {"id": row.id, "prefix": row.prefix, "secret": secret}[by]
    revoked = keys.revoke_key(engine, handle)
    assert revoked.id == row.id
    assert revoked.revoked_at is not None
    assert keys.list_keys(engine) == [revoked]
    assert keys.revoke_key(engine, row.id) == revoked  # twice changes nothing
    assert keys.load_active_keys(engine) == {}


def test_revoke_unknown_key_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="steward keys list"):
        keys.revoke_key(engine, "key_missing")
