"""The escalation writer: escalation items leave the request path here and reach the database.

`submit` appends to a deque (O(1), never blocks, never raises). One daemon thread seals what is
queued (`escalation.py: seal_item`, so plaintext never reaches disk or the database unless no
keys are configured) and inserts it. When the database fails, the sealed rows go to
`escalations-<pid>.jsonl` in the spool directory (fsynced, under `flock`) and are replayed,
idempotently, every `retry_interval_s` until the database takes them; `stop` writes or spools
everything still queued. It mirrors the record writer (`observe/writer.py`) on a smaller scale:
escalations are rare, so one row per line and one file per process are enough.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from pathlib import Path

import orjson
import structlog
from sqlalchemy.engine import Engine

from steward.config.schema import StewardConfig
from steward.errors import ConfigError, StorageError
from steward.guards.output.escalation import EscalationItem, seal_item
from steward.payloads.keys import PayloadKeyring
from steward.storage.escalations import EscalationRow, insert_escalations

__all__ = ["EscalationWriter", "escalation_writer"]

log = structlog.get_logger("steward.escalations")

_PREFIX = "escalations-"


class EscalationWriter:
    """Seals and stores escalation items from one background thread; spools when the database
    is down. The engine belongs to the caller."""

    def __init__(
        self,
        engine: Engine,
        keyring: PayloadKeyring | None,
        spool_dir: Path,
        *,
        flush_interval_s: float = 0.2,
        retry_interval_s: float = 2.0,
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._spool_dir = spool_dir
        self._flush_interval_s = flush_interval_s
        self._retry_interval_s = retry_interval_s
        self._queue: deque[EscalationItem | threading.Event] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self.written_total = 0

    def start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="steward-escalations", daemon=True
            )
            self._thread.start()

    def submit(self, item: EscalationItem) -> None:
        self._queue.append(item)
        self._wake.set()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every item submitted so far is stored or spooled; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            self._cycle()
            return not self._queue
        marker = threading.Event()
        self._queue.append(marker)
        self._wake.set()
        return marker.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._thread is None or not self._thread.is_alive():
            self._cycle()

    def pending_spooled(self) -> int:
        return sum(len(_read(path)) for path in self._files())

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:
                log.exception("escalations.cycle_failed")

    def _cycle(self) -> None:
        self._replay()
        rows: list[EscalationRow] = []
        markers: list[threading.Event] = []
        while self._queue:
            entry = self._queue.popleft()
            if isinstance(entry, threading.Event):
                markers.append(entry)
                continue
            try:
                rows.append(seal_item(entry, self._keyring))
            except Exception:
                log.exception("escalations.seal_failed", escalation_id=entry.id)
        if rows:
            self._store(rows)
        for marker in markers:
            marker.set()

    def _store(self, rows: list[EscalationRow]) -> None:
        if time.monotonic() >= self._retry_at:
            try:
                insert_escalations(self._engine, rows)
                self.written_total += len(rows)
                return
            except StorageError as exc:
                self._retry_at = time.monotonic() + self._retry_interval_s
                log.warning("escalations.spooling", error=exc.message, rows=len(rows))
        try:
            self._append(rows)
        except OSError as exc:
            log.error("escalations.lost", rows=len(rows), error=str(exc))

    def _files(self) -> list[Path]:
        if not self._spool_dir.is_dir():
            return []
        return sorted(self._spool_dir.glob(_PREFIX + "*.jsonl"))

    def _append(self, rows: list[EscalationRow]) -> None:
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        data = b"".join(orjson.dumps(row.to_json()) + b"\n" for row in rows)
        while True:
            with (self._spool_dir / f"{_PREFIX}{os.getpid()}.jsonl").open("ab") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX)
                if os.fstat(file.fileno()).st_nlink == 0:
                    continue  # replayed and deleted while we waited for the lock
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
                return

    def _replay(self) -> None:
        """Insert every spooled row (this process's and others'), deleting each file after."""
        if time.monotonic() < self._retry_at:
            return
        for path in self._files():
            try:
                with path.open("rb") as file:
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    rows = _read(path)
                    insert_escalations(self._engine, rows)
                    path.unlink()
            except BlockingIOError:
                continue  # another process is writing or replaying it
            except (StorageError, OSError) as exc:
                self._retry_at = time.monotonic() + self._retry_interval_s
                log.warning("escalations.replay_failed", error=str(exc), file=str(path))
                return
            self.written_total += len(rows)
            log.info("escalations.spool_replayed", rows=len(rows))


def _read(path: Path) -> list[EscalationRow]:
    rows = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            try:
                rows.append(EscalationRow.from_json(orjson.loads(line)))
            except (ValueError, TypeError, KeyError):
                log.error("escalations.spool_line_unreadable", file=str(path))
    return rows


def escalation_writer(
    config: StewardConfig, engine: Engine, keyring: PayloadKeyring | None, spool_dir: Path
) -> EscalationWriter | None:
    """The writer, when some model can escalate; ConfigError if its items could only be stored
    in the clear and `[payloads] allow_plaintext` does not allow that."""
    models = [
        name
        for name, model in config.models.items()
        if model.guards is not None
        and model.guards.output is not None
        and model.guards.output.can_escalate()
    ]
    if not models:
        return None
    if keyring is None and not config.payloads.allow_plaintext:
        raise ConfigError(
            f"models {', '.join(models)} escalate (their escalation items hold the whole call), "
            "but [payloads] encryption_keys is empty; add a key or set [payloads] "
            "allow_plaintext = true"
        )
    return EscalationWriter(
        engine,
        keyring,
        spool_dir,
        flush_interval_s=config.storage.flush_interval_s,
        retry_interval_s=config.storage.retry_interval_s,
    )
