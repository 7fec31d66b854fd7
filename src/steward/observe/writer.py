"""The record writer: request records leave the hot path here and reach the database in batches.

`submit` only appends to a deque. One daemon thread drains it every `flush_interval_s` (sooner
when a full batch waits) and inserts each batch in one transaction. When the database fails, the
batch goes to the spool on local disk and the writer retries every `retry_interval_s`; once the
database answers, the spool is replayed in order (inserts ignore ids already stored) and normal
writing resumes. A queue longer than `max_queue` overflows to the spool too. Nothing is dropped:
`stop` writes or spools every record, and the next start replays what was spooled.

A record may come with a captured payload (`payloads/capture.py`). The thread seals it (redacts
and encrypts it, off the event loop) as it takes it into a batch; from then on the record and its
sealed payload travel together: inserted in one transaction, spooled on one line (ciphertext).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import structlog

from steward.errors import StewardError, StorageError
from steward.observe.spool import Spool
from steward.payloads.capture import CapturedRecord, PayloadDraft
from steward.storage.database import REJECTED, UNAVAILABLE
from steward.storage.payloads import Entry, PayloadRow, SealedRecord, insert_entries
from steward.storage.records import RequestRecord

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["RecordWriter", "WriterState", "WriterStats"]

log = structlog.get_logger("steward.writer")

WriterState = Literal["ok", "spooling"]
Sealer = Callable[[RequestRecord, PayloadDraft], PayloadRow]


@dataclass(frozen=True, slots=True)
class WriterStats:
    queue_depth: int
    spooled_records: int
    written_total: int
    failed_batches: int
    state: WriterState


class RecordWriter:
    """Batches records into the database from one background thread; spools when it is down.

    Given an engine factory, the writer creates the engine on its thread and disposes of it on
    `stop`; given an engine, the caller keeps ownership.
    """

    def __init__(
        self,
        engine_factory: Callable[[], Engine] | Engine,
        *,
        spool_dir: Path,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        retry_interval_s: float = 2.0,
        max_queue: int = 100_000,
        sealer: Sealer | None = None,
    ) -> None:
        if callable(engine_factory):
            self._factory: Callable[[], Engine] | None = engine_factory
            self._engine: Engine | None = None
        else:
            self._factory, self._engine = None, engine_factory
        self._spool = Spool(spool_dir)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._retry_interval_s = retry_interval_s
        self._max_queue = max_queue
        self._sealer = sealer
        self._queue: deque[Entry | CapturedRecord | threading.Event] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._state: WriterState = "ok"
        self._retry_at = 0.0
        self._inflight: Sequence[Entry] = ()
        self._overflowing = False
        self._written_total = 0
        self._failed_batches = 0

    def start(self) -> None:
        """Start the writer thread; records spooled by an earlier run are replayed first."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="steward-writer", daemon=True)
            self._thread.start()

    def submit(self, record: RequestRecord, payload: PayloadDraft | None = None) -> None:
        """Queue a record (and its payload). O(1), never blocks on the database, never raises."""
        queue = self._queue
        queue.append(record if payload is None else CapturedRecord(record, payload))
        if self._closed:
            try:
                self._spool_leftovers()  # only after `stop`: nobody else will write it
            except Exception:
                log.exception("writer.records_lost", records=1)
        elif len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every record submitted so far is written or spooled; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return not self._queue
        marker = threading.Event()
        self._queue.append(marker)
        self._wake.set()
        return marker.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write every queued record to the database, or to the spool if it is down."""
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is None:
            try:
                self._cycle(closing=True)
            except Exception:
                log.exception("writer.cycle_failed")
        else:
            self._wake.set()
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("writer.stop_timed_out", timeout_s=timeout_s)
                # The stuck batch may still commit; replaying it later is harmless.
                self._spool_batch(list(self._inflight))
        self._spool_leftovers()
        if self._factory is not None and self._engine is not None and not self._running():
            self._engine.dispose()
            self._engine = None

    def stats(self) -> WriterStats:
        return WriterStats(
            queue_depth=len(self._queue),
            spooled_records=self._spool.pending_records,
            written_total=self._written_total,
            failed_batches=self._failed_batches,
            state=self._state,
        )

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            closing = self._closed
            if not closing:
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
                closing = self._closed
            try:
                self._cycle(closing=closing)
            except Exception:
                log.exception("writer.cycle_failed")
            if closing:
                return

    def _cycle(self, *, closing: bool) -> None:
        if not closing:
            self._recover()
        # Only what is queued now, so a steady stream of submits cannot starve `_recover`.
        budget = len(self._queue)
        while self._queue and (budget > 0 or closing):
            overflowing = len(self._queue) > self._max_queue
            if overflowing and not self._overflowing:
                log.warning("writer.queue_overflow", queue_depth=len(self._queue))
            self._overflowing = overflowing
            batch, markers = self._take()
            budget -= len(batch) + len(markers)
            if overflowing or self._state == "spooling":
                done = self._spool_batch(batch)
            else:
                done = self._write(batch)
            if not done:
                self._queue.extendleft(reversed([*batch, *markers]))
                return
            for marker in markers:
                marker.set()

    def _take(self) -> tuple[list[Entry], list[threading.Event]]:
        """Up to one batch from the queue, ending early at a flush marker; payloads sealed."""
        batch: list[Entry] = []
        queue = self._queue
        while queue and len(batch) < self._batch_size:
            item = queue.popleft()
            if isinstance(item, threading.Event):
                return batch, [item]
            batch.append(self._seal(item) if isinstance(item, CapturedRecord) else item)
        return batch, []

    def _seal(self, item: CapturedRecord) -> Entry:
        """The record with its sealed payload; the record alone if sealing fails (never stored
        unredacted or unencrypted)."""
        if self._sealer is None:
            return item.record
        try:
            return SealedRecord(item.record, self._sealer(item.record, item.payload))
        except Exception:
            log.exception("writer.payload_dropped", request_id=item.record.id)
            return item.record

    def _write(self, batch: list[Entry]) -> bool:
        self._inflight = batch
        try:
            self._insert(batch)
        except StorageError as exc:
            self._failed_batches += 1
            self._enter_spooling(exc)
            return self._spool_batch(batch)
        finally:
            self._inflight = ()
        return True

    def _recover(self) -> None:
        """Replay the spool when due; leaves spooling state once the database takes it all."""
        if time.monotonic() < self._retry_at:
            return
        if self._state == "ok" and not self._spool.pending_records:
            return
        try:
            replayed = self._spool.replay(self._insert, batch_size=self._batch_size)
        except StorageError as exc:
            self._enter_spooling(exc)
            return
        except OSError as exc:
            log.error("writer.spool_unreadable", error=str(exc))
            self._retry_at = time.monotonic() + self._retry_interval_s
            return
        if self._state == "spooling" or replayed:
            log.info("writer.spool_replayed", records=replayed, spooled=self._spool.pending_records)
        self._state = "ok"

    def _enter_spooling(self, exc: StorageError) -> None:
        self._retry_at = time.monotonic() + self._retry_interval_s
        if self._state != "spooling":
            self._state = "spooling"
            log.warning("writer.spooling", error=exc.message, spool_dir=str(self._spool.directory))

    def _insert(self, batch: list[Entry]) -> None:
        """Insert a batch; raises `StorageError` only when retrying later can succeed."""
        engine = self._get_engine()
        try:
            insert_entries(engine, batch)
        except StorageError as exc:
            if exc.code != REJECTED:
                raise
            self._insert_singly(engine, batch)
            return
        except Exception:  # a driver refusing a value before it reaches the server
            self._insert_singly(engine, batch)
            return
        self._written_total += len(batch)

    def _insert_singly(self, engine: Engine, batch: list[Entry]) -> None:
        """Find the records the database refuses, set them aside, and write the rest."""
        rejected: list[Entry] = []
        for record in batch:
            try:
                insert_entries(engine, [record])
                self._written_total += 1
            except StorageError as exc:
                if exc.code != REJECTED:
                    raise
                rejected.append(record)
            except Exception:
                rejected.append(record)
        try:
            self._spool.reject(rejected)
        except OSError as exc:
            log.error("writer.records_lost", records=len(rejected), error=str(exc))

    def _get_engine(self) -> Engine:
        if self._engine is None:
            assert self._factory is not None
            try:
                self._engine = self._factory()
            except StewardError as exc:
                raise StorageError(exc.message, code=UNAVAILABLE) from exc
            except Exception as exc:
                raise StorageError(f"Cannot create the database engine: {exc}") from exc
        return self._engine

    def _spool_batch(self, batch: list[Entry]) -> bool:
        """False when the disk failed and the batch should be retried later."""
        try:
            self._spool.append(batch)
        except OSError as exc:
            log.error("writer.spool_failed", error=str(exc), records=len(batch))
            return False
        except Exception:  # a record that cannot be serialised will never be storable
            log.exception("writer.records_lost", records=len(batch))
        return True

    def _spool_leftovers(self) -> None:
        """After `stop`: spool whatever is still queued. Never raises."""
        leftovers: list[Entry] = []
        while self._queue:
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            if isinstance(item, threading.Event):
                item.set()
            else:
                leftovers.append(self._seal(item) if isinstance(item, CapturedRecord) else item)
        if leftovers and not self._spool_batch(leftovers):
            log.error("writer.records_lost", records=len(leftovers))
