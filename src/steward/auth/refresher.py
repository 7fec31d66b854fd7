"""Keeps in-memory keys and budgets in step with the database from a background thread (never
per request)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from steward.errors import StorageError

log = structlog.get_logger("steward.auth")


class Refresher:
    """Runs `reload` every interval, so a revocation or a new budget reaches every replica
    within seconds. `reload` loads from the database and swaps the in-memory views whole."""

    def __init__(self, reload: Callable[[], None], interval_s: float) -> None:
        self._reload = reload
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steward-keys", daemon=True)
        self.last_error: str | None = None

    def refresh(self) -> bool:
        try:
            self._reload()
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
