"""Streams that go wrong: upstream failing before or after the first byte, clients that leave."""

from __future__ import annotations

import http.client
import json

import openai
import pytest
from tests.fakes import FakeProvider, Fault
from tests.integration.records import latest
from tests.servers import Gateway

USER = [{"role": "user", "content": "one two three four five six"}]


def test_upstream_error_before_first_byte_is_a_normal_error(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    fake.script(Fault(status=503))
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        with pytest.raises(openai.InternalServerError) as info:
            list(c.chat.completions.create(model="gpt", messages=USER, stream=True))
    assert info.value.status_code == 502
    assert latest(gw).status == 502


def test_stalled_stream_ends_with_a_clean_error_event(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    fake.script(Fault(stall_after_chunks=2))
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        with pytest.raises(openai.APIError) as info:
            list(c.chat.completions.create(model="gpt", messages=USER, stream=True))
    assert "sent nothing for 0.5 s" in info.value.message
    record = latest(gw)
    assert record.stream and record.status == 504 and record.error_type == "timeout_error"


def test_malformed_stream_event(gateway: tuple[Gateway, str], fake: FakeProvider) -> None:
    gw, key = gateway
    fake.script(Fault(malformed=True))
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        with pytest.raises(openai.APIError):
            list(c.chat.completions.create(model="gpt", messages=USER, stream=True))
    assert latest(gw).error_type == "upstream_error"


def test_client_disconnect_cancels_upstream_and_is_recorded(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    fake.script(Fault(chunk_delay_s=0.2))
    port = int(gw.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    body = json.dumps({"model": "gpt", "messages": USER, "stream": True})
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=body,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    first = response.read1()
    assert first.startswith(b"data: ")
    conn.sock.close()  # type: ignore[union-attr]
    conn.close()
    assert fake.wait_for_disconnects(1, timeout_s=5), "the upstream stream was not cancelled"
    record = latest(gw)
    assert record.status == 499 and record.error_type == "client_disconnected"
    assert record.stream and record.ttft_ms is not None
