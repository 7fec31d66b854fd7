"""The retention job: deletes records and payloads older than their model's `retention_days`.

It runs on a thread of its own, once at start and then every `[payloads] retention_interval_s`.
Each transaction deletes at most `retention_batch_size` records and as many payloads per model,
so the record writer never waits long for the database, and appends one audit entry
(`system:retention`, `retention.purge`, the counts) when it deleted anything: the entry commits
with the deletions or not at all. A run repeats transactions until nothing old is left.
Records with no public model, or of a model that sets no `retention_days`, are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.engine import Connection, Engine

from steward.config.schema import StewardConfig
from steward.errors import StorageError
from steward.storage import audit
from steward.storage.database import translate_errors
from steward.storage.payloads import delete_expired

__all__ = ["ACTOR_ID", "Purge", "RetentionJob"]

log = structlog.get_logger("steward.retention")

ACTOR_ID = "system:retention"


@dataclass(frozen=True, slots=True)
class Purge:
    """What one run deleted."""

    requests: int = 0
    payloads: int = 0
    transactions: int = 0


class RetentionJob:
    """Purges expired rows from a daemon thread; `run_once` does one whole run synchronously."""

    def __init__(
        self,
        engine: Engine,
        retention_days: Mapping[str, int],
        *,
        interval_s: float = 3600.0,
        batch_size: int = 1000,
    ) -> None:
        self._engine = engine
        self._retention_days = dict(retention_days)
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steward-retention", daemon=True)
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, engine: Engine, config: StewardConfig) -> RetentionJob | None:
        """None when no model sets `retention_days`."""
        days = {n: m.retention_days for n, m in config.models.items() if m.retention_days}
        if not days:
            return None
        return cls(
            engine,
            days,
            interval_s=config.payloads.retention_interval_s,
            batch_size=config.payloads.retention_batch_size,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self, now: datetime | None = None) -> Purge:
        """Delete everything expired at `now` (default: the current time), batch by batch."""
        now = now or datetime.now(UTC)
        cutoffs = {m: now - timedelta(days=d) for m, d in self._retention_days.items()}
        total = Purge()
        while not self._stop.is_set():
            with translate_errors(self._engine.url), self._engine.begin() as connection:
                deleted, full = self._batch(connection, cutoffs)
            if deleted.requests or deleted.payloads:
                total = Purge(
                    total.requests + deleted.requests,
                    total.payloads + deleted.payloads,
                    total.transactions + 1,
                )
            if not full:
                break
        if total.transactions:
            log.info("retention.purged", requests=total.requests, payloads=total.payloads)
        return total

    def _batch(self, connection: Connection, cutoffs: Mapping[str, datetime]) -> tuple[Purge, bool]:
        """One transaction: (what it deleted, whether any model may have more to delete)."""
        by_model: dict[str, dict[str, object]] = {}
        requests = payloads = 0
        full = False
        for model, cutoff in cutoffs.items():
            records, rows = delete_expired(connection, model, cutoff, self._batch_size)
            full = full or max(records, rows) >= self._batch_size
            if records or rows:
                before = cutoff.isoformat(timespec="seconds")
                by_model[model] = {"requests": records, "payloads": rows, "before": before}
                requests, payloads = requests + records, payloads + rows
        if by_model:
            audit.append(
                connection,
                audit.AuditEntry(
                    actor_id=ACTOR_ID,
                    actor="retention job",
                    action="retention.purge",
                    target_type="records",
                    after={"requests": requests, "payloads": payloads, "models": by_model},
                ),
            )
        return Purge(requests, payloads), full

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                self.last_error = None
            except StorageError as exc:
                if self.last_error != exc.message:
                    log.warning("retention.failed", error=exc.message)
                self.last_error = exc.message
            except Exception:
                log.exception("retention.failed")
            if self._stop.wait(self._interval_s):
                return
