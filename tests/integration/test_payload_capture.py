"""Payload capture through a gateway over the fake provider: policies, streams, retention, erasure."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openai
import pytest
from sqlalchemy import select
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.integration.records import latest, record_for
from tests.servers import Gateway

from steward.config.loading import load_config
from steward.errors import ConfigError
from steward.payloads.keys import key_id
from steward.payloads.sealing import read_payload
from steward.runtime import Runtime
from steward.storage import audit
from steward.storage.payloads import SealedRecord, get_payload_row, insert_entries
from steward.storage.records import RequestRecord
from steward.storage.requests import get_record
from steward.storage.tables import payloads

KEY_ENV = "STEWARD_TEST_PAYLOAD_KEY"
KEY = os.urandom(32)
EMAIL = "ann.lee@example.com"
USER = [{"role": "user", "content": f"My email is {EMAIL}, my card 4111 1111 1111 1111"}]


def _models(**policies: str) -> str:
    blocks = [
        f'[models.{name}]\ntargets = ["up/gpt-test"]\nretries = 0\ncapture = "{policy}"\n'
        for name, policy in policies.items()
    ]
    return "\n".join(blocks)


PAYLOADS = f'\n[payloads]\nencryption_keys = ["env:{KEY_ENV}"]\n'


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, base64.b64encode(KEY).decode())


def _client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=10)


def _chat(gw: Gateway, key: str, model: str, user: str = "alice") -> str:
    """Send USER to `model` as end user `user`; the request id."""
    with _client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(model=model, messages=USER, user=user)
    return str(raw.headers["x-request-id"])


def _payload(gw: Gateway, request_id: str) -> dict[str, object]:
    record_for(gw, request_id)  # the payload commits with its record
    document = read_payload(gw.runtime.engine, gw.runtime.payload_keys, request_id)
    assert document is not None, f"no payload for {request_id}"
    return document


def _stored_body(gw: Gateway, request_id: str) -> bytes:
    with gw.runtime.engine.connect() as connection:
        query = select(payloads.c.body).where(payloads.c.request_id == request_id)
        return bytes(connection.execute(query).scalar_one())


@pytest.mark.usefixtures("keyed")
def test_full_capture_keeps_request_and_response_encrypted(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway(_models(chat="full") + PAYLOADS)
    request_id = _chat(gw, key, "chat")
    document = _payload(gw, request_id)
    assert document["policy"] == "full"
    request = document["request"]
    assert isinstance(request, dict) and request["messages"] == USER and request["user"] == "alice"
    response = document["response"]
    assert isinstance(response, dict)
    assert response["choices"][0]["message"]["content"] == f"echo: {USER[0]['content']}"
    row = get_payload_row(gw.runtime.engine, request_id)
    assert row is not None and row.key_id == key_id(KEY) and row.user == "alice"
    assert row.public_model == "chat"
    assert EMAIL.encode() not in _stored_body(gw, request_id)


@pytest.mark.usefixtures("keyed")
def test_redacted_capture_removes_pii_from_request_and_response(
    make_gateway: GatewayFactory,
) -> None:
    gw, key = make_gateway(_models(chat="redacted") + PAYLOADS)
    document = _payload(gw, _chat(gw, key, "chat"))
    text = str(document)
    assert EMAIL not in text and "4111" not in text
    request, response = document["request"], document["response"]
    assert isinstance(request, dict) and isinstance(response, dict)
    assert request["messages"][0]["content"] == "My email is <EMAIL>, my card <CREDIT_CARD>"
    assert response["choices"][0]["message"]["content"].startswith("echo: My email is <EMAIL>")


@pytest.mark.usefixtures("keyed")
def test_metadata_and_none_keep_no_payload_and_none_drops_the_user(
    make_gateway: GatewayFactory,
) -> None:
    gw, key = make_gateway(_models(meta="metadata", nothing="none") + PAYLOADS)
    meta, nothing = _chat(gw, key, "meta"), _chat(gw, key, "nothing")
    assert record_for(gw, meta).user == "alice"
    assert record_for(gw, nothing).user is None
    assert record_for(gw, nothing).output_tokens  # the record itself is whole
    for request_id in (meta, nothing):
        assert get_payload_row(gw.runtime.engine, request_id) is None


@pytest.mark.usefixtures("keyed")
def test_a_streamed_answer_is_assembled_and_a_failed_call_keeps_its_error(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(_models(chat="full") + PAYLOADS)
    with _client(gw, key) as c:
        chunks = list(c.chat.completions.create(model="chat", messages=USER, stream=True))
    assert chunks
    record = latest(gw)
    assert record.stream
    document = _payload(gw, record.id)
    response = document["response"]
    assert isinstance(response, dict) and response["object"] == "chat.completion"
    choice = response["choices"][0]
    assert choice["message"]["content"] == f"echo: {USER[0]['content']}"
    assert choice["finish_reason"] == "stop"

    fake.script(Fault(status=503))
    with _client(gw, key) as c, pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="chat", messages=USER)  # type: ignore[arg-type]
    failed = latest(gw)
    assert failed.status == 502
    document = _payload(gw, failed.id)
    assert document["response"] is None
    assert document["request"] == {"model": "chat", "messages": USER}
    error = document["error"]
    assert isinstance(error, dict) and error["type"] == "upstream_error"


@pytest.mark.usefixtures("keyed")
def test_anthropic_requests_are_kept_in_their_own_wire_format(
    make_gateway: GatewayFactory,
) -> None:
    import anthropic

    gw, key = make_gateway(_models(chat="full") + PAYLOADS)
    with anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10) as c:
        c.messages.create(model="chat", max_tokens=50, messages=USER)  # type: ignore[arg-type]
    document = _payload(gw, latest(gw).id)
    request = document["request"]
    assert isinstance(request, dict) and request["max_tokens"] == 50


def _old(record: RequestRecord, model: str, days: float) -> RequestRecord:
    created = datetime.now(UTC) - timedelta(days=days)
    return replace(record, id=f"{model}-{record.id}", created_at=created, public_model=model)


@pytest.mark.usefixtures("keyed")
def test_the_retention_job_deletes_old_records_and_payloads(
    make_gateway: GatewayFactory,
) -> None:
    toml = _models(chat="full") + "retention_days = 30\n" + PAYLOADS
    gw, key = make_gateway(toml + "retention_interval_s = 0.2\n")
    fresh = _chat(gw, key, "chat")
    record = record_for(gw, fresh)
    row = get_payload_row(gw.runtime.engine, fresh)
    assert row is not None
    old = _old(record, "chat", 31)
    kept = _old(record, "other", 400)  # a model without retention_days
    insert_entries(
        gw.runtime.engine,
        [SealedRecord(old, replace(row, request_id=old.id, created_at=old.created_at)), kept],
    )
    deadline = time.monotonic() + 10
    while get_record(gw.runtime.engine, old.id) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get_record(gw.runtime.engine, old.id) is None
    assert get_payload_row(gw.runtime.engine, old.id) is None
    assert get_record(gw.runtime.engine, kept.id) is not None
    assert get_payload_row(gw.runtime.engine, fresh) is not None
    entries = audit.list_entries(gw.runtime.engine, team_id=None)
    purge = [e for e in entries if e.entry.action == "retention.purge"]
    assert purge and purge[0].entry.actor_id == "system:retention"
    after = purge[0].entry.after
    assert after is not None and (after["requests"], after["payloads"]) == (1, 1)
    assert set(after["models"]) == {"chat"}


def _steward(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "steward", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "USER": "ops"},
    )


@pytest.mark.usefixtures("keyed")
def test_data_delete_user_erases_everywhere_and_the_audit_log_stays_intact(
    make_gateway: GatewayFactory,
) -> None:
    gw, key = make_gateway(_models(chat="full") + PAYLOADS)
    alice = [_chat(gw, key, "chat", user="alice") for _ in range(2)]
    bob = _chat(gw, key, "chat", user="bob")
    for request_id in [*alice, bob]:
        record_for(gw, request_id)
    path = gw.loaded.path
    assert path is not None

    done = _steward(path, "data", "delete", "--user", "alice")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deleted 2 records and 2 payloads of user alice"
    engine = gw.runtime.engine
    for request_id in alice:
        assert get_record(engine, request_id) is None
        assert get_payload_row(engine, request_id) is None
    assert get_record(engine, bob) is not None and get_payload_row(engine, bob) is not None
    (entry, *_) = audit.list_entries(engine, team_id=None)
    assert (entry.entry.actor_id, entry.entry.action) == ("cli:ops", "data.delete_user")
    assert entry.entry.after == {"requests": 2, "payloads": 2}
    verified = _steward(path, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("audit log intact")


def test_data_reencrypt_moves_rows_to_the_new_key(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_key = os.urandom(32)
    monkeypatch.setenv(KEY_ENV, base64.b64encode(KEY).decode())
    gw, key = make_gateway(_models(chat="full") + PAYLOADS)
    request_id = _chat(gw, key, "chat")
    record_for(gw, request_id)
    path = gw.loaded.path
    assert path is not None
    path.write_text(
        path.read_text().replace(
            f'encryption_keys = ["env:{KEY_ENV}"]',
            f'encryption_keys = ["env:{KEY_ENV}_NEW", "env:{KEY_ENV}"]',
        )
    )
    monkeypatch.setenv(f"{KEY_ENV}_NEW", base64.b64encode(new_key).decode())

    done = _steward(path, "data", "reencrypt")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"re-encrypted 1 payloads with key {key_id(new_key)}"
    row = get_payload_row(gw.runtime.engine, request_id)
    assert row is not None and row.key_id == key_id(new_key)


def test_capture_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "steward.toml"
    providers = '[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
    path.write_text(providers + _models(chat="redacted"))
    with pytest.raises(ConfigError, match="capture payloads, but \\[payloads\\] encryption_keys"):
        load_config(path, environ={})
    path.write_text(providers + _models(chat="full") + "\n[payloads]\nallow_plaintext = true\n")
    assert load_config(path, environ={}).config.models["chat"].capture == "full"
    path.write_text(providers + _models(chat="full") + PAYLOADS)
    loaded = load_config(path, environ={})
    with pytest.raises(ConfigError, match=f"env:{KEY_ENV} is unset"):
        Runtime.build(loaded)
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    check = subprocess.run(
        [sys.executable, "-m", "steward", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert check.returncode == 1 and f"env:{KEY_ENV} is unset" in check.stderr


def test_plaintext_payloads_when_allowed(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway(_models(chat="full") + "\n[payloads]\nallow_plaintext = true\n")
    request_id = _chat(gw, key, "chat")
    assert gw.runtime.payload_keys is None
    document = _payload(gw, request_id)
    assert document["policy"] == "full"
    row = get_payload_row(gw.runtime.engine, request_id)
    assert row is not None and row.key_id is None and EMAIL.encode() in row.body
