"""Captured payloads on SQLite and PostgreSQL: sealing, keys and rotation, the spool, the writer."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from steward.config.schema import PayloadsConfig
from steward.errors import ConfigError, PayloadKeyError
from steward.observe.redact import PatternRedactor
from steward.observe.spool import Spool
from steward.observe.writer import RecordWriter
from steward.payloads.capture import PayloadDraft
from steward.payloads.erasure import reencrypt
from steward.payloads.keys import PayloadKeyring, key_id
from steward.payloads.sealing import Sealer, read_payload
from steward.storage import audit
from steward.storage.payloads import PayloadRow, SealedRecord, get_payload_row, insert_entries
from steward.storage.records import RequestRecord
from steward.storage.requests import get_record
from steward.storage.tables import payloads
from tests.storage.conftest import FlakyDatabase
from tests.storage.sample_records import make_records

SECRET = "the launch code is 0000-tangerine"
REQUEST = orjson.dumps(
    {
        "model": "gpt",
        "messages": [{"role": "user", "content": SECRET + ", write to ann@example.com"}],
    }
)
RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "echo: " + SECRET}}],
}
KEY_1, KEY_2 = os.urandom(32), os.urandom(32)


def _record(n: int = 0, user: str | None = "user-1") -> RequestRecord:
    return replace(make_records(1, start=n, prefix="pay")[0], user=user)


def _draft(policy: str = "full") -> PayloadDraft:
    return PayloadDraft(policy, REQUEST, RESPONSE)  # type: ignore[arg-type]


def _seal(keys: list[bytes] | None, record: RequestRecord, policy: str = "full") -> SealedRecord:
    keyring = PayloadKeyring(keys) if keys else None
    return SealedRecord(record, Sealer(keyring, PatternRedactor())(record, _draft(policy)))


def _stored_body(engine: Engine, request_id: str) -> bytes:
    with engine.connect() as connection:
        query = select(payloads.c.body).where(payloads.c.request_id == request_id)
        return bytes(connection.execute(query).scalar_one())


def test_a_sealed_payload_round_trips_and_the_database_holds_only_ciphertext(
    engine: Engine,
) -> None:
    entry = _seal([KEY_1], _record())
    insert_entries(engine, [entry])
    assert get_record(engine, entry.record.id) is not None
    row = get_payload_row(engine, entry.record.id)
    assert row is not None
    assert (row.key_id, row.policy, row.user, row.public_model) == (
        key_id(KEY_1),
        "full",
        "user-1",
        "gpt",
    )
    assert row.nonce is not None and len(row.nonce) == 12
    body = _stored_body(engine, entry.record.id)
    assert SECRET.encode() not in body and b"ann@example.com" not in body
    assert b"tangerine" not in body
    document = read_payload(engine, PayloadKeyring([KEY_1]), entry.record.id)
    assert document == {
        "request_id": entry.record.id,
        "policy": "full",
        "request": orjson.loads(REQUEST),
        "response": RESPONSE,
        "error": None,
    }
    assert read_payload(engine, PayloadKeyring([KEY_1]), "no-such-request") is None


def test_full_keeps_the_request_bytes_exactly_and_redacted_removes_pii(engine: Engine) -> None:
    raw = b'{ "model":"gpt",  "messages":[{"role":"user","content":"mail ann@example.com"}] }\n'
    record = _record()
    sealer = Sealer(None, PatternRedactor())
    full = sealer.document(PayloadDraft("full", raw, RESPONSE))
    assert full.startswith(b'{"request":' + raw + b',"response":')
    assert orjson.loads(full)["request"]["messages"][0]["content"] == "mail ann@example.com"
    redacted = sealer(record, PayloadDraft("redacted", raw, RESPONSE, error_type="x"))
    assert b"ann@example.com" not in redacted.body
    insert_entries(engine, [SealedRecord(record, redacted)])
    document = read_payload(engine, None, record.id)
    assert document is not None
    assert document["request"]["messages"][0]["content"] == "mail <EMAIL>"
    assert document["error"] == {"type": "x", "message": None}


def test_the_wrong_key_or_an_altered_row_fails_cleanly(engine: Engine) -> None:
    entry = _seal([KEY_1], _record())
    insert_entries(engine, [entry])
    request_id = entry.record.id
    with pytest.raises(PayloadKeyError, match=f"key {key_id(KEY_1)}, which is not in"):
        read_payload(engine, PayloadKeyring([KEY_2]), request_id)
    with pytest.raises(PayloadKeyError, match="no \\[payloads\\] encryption_keys"):
        read_payload(engine, None, request_id)
    tampered = bytearray(entry.payload.body)
    tampered[0] ^= 1
    with engine.begin() as connection:
        statement = update(payloads).where(payloads.c.request_id == request_id)
        connection.execute(statement.values(body=bytes(tampered)))
    with pytest.raises(PayloadKeyError, match="altered"):
        read_payload(engine, PayloadKeyring([KEY_1]), request_id)


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(engine: Engine) -> None:
    first, second = _seal([KEY_1], _record(0)), _seal([KEY_1], _record(1))
    insert_entries(engine, [first, second])
    with engine.begin() as connection:
        statement = update(payloads).where(payloads.c.request_id == second.record.id)
        connection.execute(statement.values(body=first.payload.body, nonce=first.payload.nonce))
    with pytest.raises(PayloadKeyError, match="belongs to another request"):
        read_payload(engine, PayloadKeyring([KEY_1]), second.record.id)


def test_rotation_old_rows_stay_readable_then_reencrypt_retires_the_old_key(
    engine: Engine,
) -> None:
    old = _seal([KEY_1], _record(0))
    plain = _seal(None, _record(1))  # written while allow_plaintext was on
    new = _seal([KEY_2, KEY_1], _record(2))
    insert_entries(engine, [old, plain, new])
    assert new.payload.key_id == key_id(KEY_2)
    rotated = PayloadKeyring([KEY_2, KEY_1])
    for entry in (old, plain, new):
        assert read_payload(engine, rotated, entry.record.id) is not None
    with pytest.raises(PayloadKeyError):
        read_payload(engine, PayloadKeyring([KEY_2]), old.record.id)

    done = reencrypt(engine, rotated, actor_id="cli:test", actor="test", batch_size=1)
    assert (done.resealed, done.unreadable, done.key_id) == (2, 0, key_id(KEY_2))
    only_new = PayloadKeyring([KEY_2])
    for entry in (old, plain, new):
        row = get_payload_row(engine, entry.record.id)
        assert row is not None and row.key_id == key_id(KEY_2)
        assert read_payload(engine, only_new, entry.record.id) is not None
    assert SECRET.encode() not in _stored_body(engine, plain.record.id)
    again = reencrypt(engine, only_new, actor_id="cli:test", actor="test")
    assert again.resealed == 0
    (entry, *_) = audit.list_entries(engine, team_id=audit.ALL_TEAMS)
    assert entry.entry.action == "data.reencrypt" and entry.entry.after == {
        "resealed": 0,
        "unreadable": 0,
        "key_id": key_id(KEY_2),
    }
    assert audit.verify(engine).ok


def test_reencrypt_leaves_rows_under_unknown_keys_and_counts_them(engine: Engine) -> None:
    insert_entries(engine, [_seal([KEY_1], _record(0))])
    done = reencrypt(engine, PayloadKeyring([KEY_2]), actor_id="cli:test", actor="test")
    assert (done.resealed, done.unreadable) == (0, 1)


def test_keys_come_from_the_environment_and_bad_ones_are_config_errors() -> None:
    config = PayloadsConfig(encryption_keys=("env:K2", "env:K1"))
    environ = {
        "K1": base64.b64encode(KEY_1).decode(),
        "K2": base64.urlsafe_b64encode(KEY_2).decode().rstrip("="),
    }
    keyring = PayloadKeyring.from_config(config, environ)
    assert keyring is not None
    assert keyring.current_id == key_id(KEY_2)
    assert keyring.key_ids == (key_id(KEY_2), key_id(KEY_1))
    assert PayloadKeyring.from_config(PayloadsConfig(), {}) is None
    with pytest.raises(ConfigError, match="env:K1 is unset"):
        PayloadKeyring.from_config(config, {"K2": environ["K2"]})
    with pytest.raises(ConfigError, match="decodes to 16 bytes"):
        PayloadKeyring.from_config(config, {**environ, "K1": base64.b64encode(b"x" * 16).decode()})
    with pytest.raises(ConfigError, match="not base64"):
        PayloadKeyring.from_config(config, {**environ, "K1": "not base64!"})
    with pytest.raises(ConfigError, match="same key"):
        PayloadKeyring.from_config(config, {"K1": environ["K1"], "K2": environ["K1"]})


def test_the_spool_keeps_payloads_as_ciphertext_and_replays_them(tmp_path: Path) -> None:
    entries: list[RequestRecord | SealedRecord] = [_seal([KEY_1], _record(0)), _record(1)]
    spool = Spool(tmp_path)
    spool.append(entries)
    (path,) = spool.files()
    text = path.read_bytes()
    assert SECRET.encode() not in text and b"tangerine" not in text
    assert spool.pending_records == 2
    replayed: list[list[RequestRecord | SealedRecord]] = []
    assert spool.replay(replayed.append, batch_size=10) == 2
    assert replayed == [entries]


def _wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_writer_seals_spools_ciphertext_and_replays_payloads_with_records(
    flaky_db: FlakyDatabase, tmp_path: Path
) -> None:
    keyring = PayloadKeyring([KEY_1])
    writer = RecordWriter(
        flaky_db.engine,
        spool_dir=tmp_path,
        flush_interval_s=0.02,
        retry_interval_s=0.1,
        sealer=Sealer(keyring, PatternRedactor()),
    )
    writer.start()
    first, during = _record(0), _record(1)
    writer.submit(first, _draft("redacted"))
    writer.submit(_record(2))
    assert writer.flush(timeout_s=5)
    document = read_payload(flaky_db.direct, keyring, first.id)
    assert document is not None and "<EMAIL>" in document["request"]["messages"][0]["content"]
    assert get_payload_row(flaky_db.direct, _record(2).id) is None

    flaky_db.cut()
    writer.submit(during, _draft("full"))
    assert writer.flush(timeout_s=5)
    assert writer.stats().state == "spooling"
    spooled = b"".join(p.read_bytes() for p in tmp_path.glob("*.jsonl"))
    assert during.id.encode() in spooled and SECRET.encode() not in spooled
    assert b'"payload"' in spooled

    flaky_db.restore()
    assert _wait_for(lambda: writer.stats().state == "ok" and not writer.stats().spooled_records)
    writer.stop()
    document = read_payload(flaky_db.direct, keyring, during.id)
    assert document is not None and SECRET in document["request"]["messages"][0]["content"]


def test_a_refused_payload_takes_its_record_with_it_to_the_rejected_file(
    engine: Engine, tmp_path: Path
) -> None:
    sealer = Sealer(PayloadKeyring([KEY_1]), PatternRedactor())
    good, bad = _record(0), _record(1)

    def refused_for_bad(record: RequestRecord, draft: PayloadDraft) -> PayloadRow:
        row = sealer(record, draft)
        return replace(row, policy=None) if record.id == bad.id else row  # type: ignore[arg-type]

    writer = RecordWriter(engine, spool_dir=tmp_path, flush_interval_s=0.02, sealer=refused_for_bad)
    writer.start()
    writer.submit(good, _draft())
    writer.submit(bad, _draft())  # its payload violates NOT NULL
    assert writer.flush(timeout_s=5)
    writer.stop()
    assert get_payload_row(engine, good.id) is not None
    assert get_record(engine, bad.id) is None  # one transaction: neither row is stored
    (rejected,) = tmp_path.glob("rejected-*.jsonl")
    line = orjson.loads(rejected.read_bytes())
    assert line["id"] == bad.id and line["payload"]["key_id"] == key_id(KEY_1)
    assert SECRET.encode() not in rejected.read_bytes()
