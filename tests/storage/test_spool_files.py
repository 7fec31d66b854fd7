"""The spool on disk: fsynced JSON Lines, ordered replay, torn lines, locks between processes."""

from __future__ import annotations

import fcntl
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from steward.observe.spool import Spool
from steward.storage.records import RequestRecord
from tests.storage.sample_records import make_records


def test_append_writes_one_json_line_per_record_with_iso_datetimes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    records = make_records(3)
    spool.append(records)
    (path,) = spool.files()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    assert spool.pending_records == 3
    first = orjson.loads(lines[0])
    assert first["id"] == records[0].id
    assert datetime.fromisoformat(first["created_at"]) == records[0].created_at
    assert first["created_at"].endswith("+00:00")


def test_replay_is_in_order_and_deletes_each_file_after_insert(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_records_per_file=4)
    records = make_records(10)
    spool.append(records[:4])
    spool.append(records[4:8])
    spool.append(records[8:])
    assert len(spool.files()) == 3
    inserted: list[list[RequestRecord]] = []
    assert spool.replay(inserted.append, batch_size=3) == 10
    assert [r for batch in inserted for r in batch] == records
    assert max(len(batch) for batch in inserted) == 3
    assert spool.files() == []
    assert spool.pending_records == 0
    assert Spool(tmp_path).pending_records == 0


def test_a_failed_replay_keeps_the_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(make_records(5))

    def refuse(batch: list[RequestRecord]) -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        spool.replay(refuse, batch_size=10)
    assert len(spool.files()) == 1
    assert spool.pending_records == 5
    assert Spool(tmp_path).pending_records == 5  # counted again at the next start


def test_a_torn_last_line_costs_no_other_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first, second = make_records(2)
    spool.append([first])
    (path,) = spool.files()
    with path.open("ab") as file:
        file.write(b'{"id": "torn", "created_')  # a crash in the middle of a write
    spool.append([second])
    inserted: list[RequestRecord] = []
    assert spool.replay(inserted.extend, batch_size=10) == 2
    assert inserted == [first, second]
    (rejected,) = tmp_path.glob("rejected-*.jsonl")
    assert rejected.read_bytes() == b'{"id": "torn", "created_\n'
    assert spool.files() == []


def test_replay_skips_a_file_another_process_holds(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(make_records(2))
    (path,) = spool.files()
    with path.open("rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert spool.replay(lambda batch: None, batch_size=10) == 0
        assert path.exists()
    assert spool.replay(lambda batch: None, batch_size=10) == 2
    assert not path.exists()


def test_append_after_the_file_was_replayed_starts_a_new_file(tmp_path: Path) -> None:
    writer_side, replayer_side = Spool(tmp_path), Spool(tmp_path)
    writer_side.append(make_records(1))
    assert replayer_side.replay(lambda batch: None, batch_size=10) == 1
    writer_side.append(make_records(1, start=1))
    (path,) = writer_side.files()
    assert orjson.loads(path.read_bytes())["id"] == make_records(1, start=1)[0].id
    assert writer_side.replay(lambda batch: None, batch_size=10) == 1
    assert writer_side.pending_records == 0
