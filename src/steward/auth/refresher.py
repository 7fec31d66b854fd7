"""Keeps the key ring in step with the database from a background thread (never per request)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import structlog

from steward.auth.keyring import KeyRing, Principal
from steward.errors import StorageError
from steward.storage.keys import ApiKeyRow

log = structlog.get_logger("steward.auth")


class KeyRefresher:
    """Reloads active keys every interval, so a revocation reaches every replica within seconds."""

    def __init__(
        self, keyring: KeyRing, load: Callable[[], list[tuple[str, Principal]]], interval_s: float
    ) -> None:
        self._keyring = keyring
        self._load = load
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steward-keys", daemon=True)
        self.last_error: str | None = None

    def refresh(self) -> bool:
        try:
            self._keyring.replace(self._load())
        except StorageError as exc:
            if self.last_error != exc.message:
                log.warning("keys.refresh_failed", error=exc.message)
            self.last_error = exc.message
            return False
        self.last_error = None
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.refresh()


def principal_entries(rows: Mapping[str, ApiKeyRow]) -> list[tuple[str, Principal]]:
    """Key rows (hash -> row) as key-ring entries."""
    return [
        (
            key_hash,
            Principal(key_id=row.id, name=row.name, role=row.role, expires_at=row.expires_at),
        )
        for key_hash, row in rows.items()
    ]
