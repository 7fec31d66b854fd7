"""The spool: request records kept on local disk (JSON Lines) while the database cannot take them.

Files are named `<time_ns>-<pid>-<random>.jsonl` so sorting them replays in order. Every append
is fsynced. Appends and replays lock the file (`flock`), so processes sharing a spool directory
never lose a record: a replay deletes a file only after its records are committed, and an append
that finds its file deleted under it starts a new one. Records the database refuses outright go
to `rejected-*.jsonl`, which is never replayed automatically.

A record with a sealed payload is one line: the record's fields and `"payload"`, the payload row
with its body and nonce in base64. The body is the ciphertext the database would hold, so a
spool never holds a payload in the clear unless the database would.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import orjson
import structlog

from steward.storage.payloads import Entry, PayloadRow, SealedRecord
from steward.storage.records import RequestRecord

if sys.platform != "win32":
    import fcntl

__all__ = ["Spool"]

log = structlog.get_logger("steward.writer")

_SUFFIX = ".jsonl"
_REJECTED = "rejected-"


class Spool:
    """A directory of spool files. Thread-safe; safe to share between processes."""

    def __init__(self, directory: Path, *, max_records_per_file: int = 10_000) -> None:
        self.directory = directory
        self._max_records_per_file = max_records_per_file
        self._lock = threading.Lock()
        self._current: Path | None = None
        self._current_records = 0
        self.pending_records = sum(_count_lines(path) for path in self.files())

    def files(self) -> list[Path]:
        """Spool files waiting to be replayed, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p for p in self.directory.glob("*" + _SUFFIX) if not p.name.startswith(_REJECTED)
        )

    def append(self, records: Sequence[Entry]) -> None:
        """Write records durably (fsync) before returning. Raises `OSError` if the disk fails."""
        if not records:
            return
        data = b"".join(_encode(record) + b"\n" for record in records)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            while True:
                if self._current is None or self._current_records >= self._max_records_per_file:
                    self._current, self._current_records = self._new_path(), 0
                if _append_locked(self._current, data):
                    break
                self._current = None  # replayed and deleted by another process meanwhile
            if self._current_records == 0:
                _fsync_directory(self.directory)  # so the new file's name survives a crash too
            self._current_records += len(records)
            self.pending_records += len(records)

    def reject(self, records: Sequence[Entry], lines: Sequence[bytes] = ()) -> None:
        """Keep records (or undecodable lines) the database refused, for an operator to inspect."""
        data = b"".join(_encode(r) + b"\n" for r in records) + b"".join(
            line.rstrip(b"\n") + b"\n" for line in lines
        )
        if not data:
            return
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            _append_locked(self.directory / f"{_REJECTED}{os.getpid()}{_SUFFIX}", data)
        log.error(
            "writer.records_rejected",
            records=len(records) + len(lines),
            directory=str(self.directory),
        )

    def replay(self, insert: Callable[[list[Entry]], None], *, batch_size: int) -> int:
        """Insert each file's records in order, deleting each file after; returns records replayed.

        Raises the first error `insert` raises, leaving that file in place. Files another
        process is replaying or appending to right now are skipped until the next replay.
        """
        replayed = sum(self._replay_file(path, insert, batch_size) for path in self.files())
        remaining = sum(_count_lines(path) for path in self.files())  # others' files included
        with self._lock:
            self.pending_records = remaining
        return replayed

    def _replay_file(
        self, path: Path, insert: Callable[[list[Entry]], None], batch_size: int
    ) -> int:
        with _locked(path, "rb", blocking=False) as file:
            if file is None:
                return 0
            records, bad_lines = _decode(file.read())
            for start in range(0, len(records), batch_size):
                insert(records[start : start + batch_size])
            if bad_lines:
                self.reject([], bad_lines)
            path.unlink()
        with self._lock:
            if path == self._current:
                self._current = None
            self.pending_records = max(0, self.pending_records - len(records) - len(bad_lines))
        return len(records)

    def _new_path(self) -> Path:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        return self.directory / name


def _append_locked(path: Path, data: bytes) -> bool:
    """Append and fsync under an exclusive lock; False if the file was deleted while we waited."""
    with _locked(path, "ab", blocking=True) as file:
        assert file is not None
        if os.fstat(file.fileno()).st_nlink == 0:
            return False
        if file.tell() > 0 and _last_byte(path) != b"\n":
            file.write(b"\n")  # a crash cut the last line short; keep the next record intact
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return True


@contextmanager
def _locked(path: Path, mode: str, *, blocking: bool) -> Iterator[IO[bytes] | None]:
    try:
        file = path.open(mode)
    except FileNotFoundError:
        yield None
        return
    with file:
        if sys.platform != "win32":
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield None
                return
            if not blocking and os.fstat(file.fileno()).st_nlink == 0:
                yield None  # replayed by another process between our listing and our lock
                return
        yield file


def _fsync_directory(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1)


def _encode(entry: Entry) -> bytes:
    if isinstance(entry, SealedRecord):
        return orjson.dumps({**entry.record.to_row(), "payload": entry.payload.to_json()})
    return orjson.dumps(entry)


def _decode(data: bytes) -> tuple[list[Entry], list[bytes]]:
    records: list[Entry] = []
    bad: list[bytes] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            values = orjson.loads(line)
            payload = values.pop("payload", None)
            values["created_at"] = datetime.fromisoformat(values["created_at"])
            record = RequestRecord(**values)
            records.append(
                record if payload is None else SealedRecord(record, PayloadRow.from_json(payload))
            )
        except (ValueError, TypeError, KeyError):
            bad.append(line)
    if bad:
        log.warning("writer.spool_lines_unreadable", lines=len(bad))
    return records, bad


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as file:
            return sum(1 for line in file if line.strip())
    except OSError:
        return 0
