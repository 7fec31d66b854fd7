"""The in-memory key ring: hashed keys to principals, swapped whole on refresh."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Quota:
    """A per-minute rate limit set on a key, app or team (None: not limited there)."""

    scope: str
    """`key`, `app` or `team`."""
    scope_id: str
    label: str
    """For messages, e.g. "team ops"."""
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name, role and tenancy, and the quotas that apply to it."""

    key_id: str
    name: str
    role: str
    expires_at: datetime | None = None
    team_id: str | None = None
    app_id: str | None = None
    quotas: tuple[Quota, ...] = ()


ANONYMOUS = Principal(key_id="anonymous", name="anonymous", role="app")


def hash_secret(secret: str) -> str:
    """Keys are long random strings, so a fast hash is enough; the plaintext is never stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRing:
    """Lookups are a hash and a dict read; refresh replaces the dict atomically."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Principal] = {}
        self.loaded = False

    def replace(self, entries: Iterable[tuple[str, Principal]]) -> None:
        self._by_hash = dict(entries)
        self.loaded = True

    def lookup(self, secret: str) -> Principal | None:
        principal = self._by_hash.get(hash_secret(secret))
        if principal is None:
            return None
        if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
            return None
        return principal

    def __len__(self) -> int:
        return len(self._by_hash)
