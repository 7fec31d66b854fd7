"""Every client mistake gets a clear OpenAI-shaped error (Anthropic-shaped on /v1/messages)."""

from __future__ import annotations

import socket
import time

import anthropic
import openai
import pytest
from structlog.testing import capture_logs
from tests import rawhttp
from tests.integration.records import latest
from tests.servers import Gateway


def post_chat(gw: Gateway, key: str, body: bytes) -> rawhttp.RawResponse:
    return rawhttp.post(
        gw.url + "/v1/chat/completions",
        body,
        {"authorization": f"Bearer {key}", "content-type": "application/json"},
    )


def assert_openai_error(response: rawhttp.RawResponse, status: int, *fragments: str) -> dict:
    assert response.status == status, response.body
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    assert "Traceback" not in error["message"]
    return error


def test_malformed_json(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    error = assert_openai_error(post_chat(gw, key, b'{"model": "gpt",'), 400, "not valid JSON")
    assert error["type"] == "invalid_request_error"
    record = latest(gw)
    assert record.status == 400 and record.error_type == "invalid_request_error"


def test_body_that_is_not_an_object(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    assert_openai_error(post_chat(gw, key, b"[1, 2]"), 400, "JSON object")


def test_missing_field_names_it(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    error = assert_openai_error(
        post_chat(gw, key, b'{"model": "gpt"}'), 400, "'messages'", "required"
    )
    assert error["param"] == "messages"


def test_wrong_typed_field_names_it(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    body = b'{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}'
    error = assert_openai_error(post_chat(gw, key, body), 400, "'temperature'", "'hot'")
    assert error["param"] == "temperature"


def test_bad_role_names_the_message(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    body = b'{"model": "gpt", "messages": [{"role": "robot", "content": "x"}]}'
    assert_openai_error(post_chat(gw, key, body), 400, "'messages.0.role'")


def test_unknown_model_lists_the_real_ones(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        with pytest.raises(openai.NotFoundError) as info:
            c.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"
    assert "gpt-5" in info.value.message and "claude, embed, gpt" in info.value.message


def test_missing_key(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    response = rawhttp.post(gw.url + "/v1/chat/completions", b"{}", {})
    error = assert_openai_error(response, 401, "No API key", "steward keys create")
    assert error["type"] == "authentication_error"
    assert latest(gw).status == 401


def test_invalid_key(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-stw-wrong", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as info:
            c.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
    assert "not valid" in info.value.message


def test_body_over_the_size_limit(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    big = (
        b'{"model": "gpt", "messages": [{"role": "user", "content": "' + b"x" * 9_000_000 + b'"}]}'
    )
    error = assert_openai_error(post_chat(gw, key, big), 413, "larger than")
    assert error["type"] == "invalid_request_error"


def test_unknown_path_and_wrong_method(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    assert_openai_error(rawhttp.request("GET", gw.url + "/v1/nope"), 404, "base_url")
    assert_openai_error(rawhttp.request("GET", gw.url + "/v1/chat/completions"), 405, "GET")


def test_anthropic_endpoint_errors_are_anthropic_shaped(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0) as c:
        with pytest.raises(anthropic.BadRequestError) as info:
            c.messages.create(
                model="claude",
                max_tokens=0,
                messages=[{"role": "user", "content": "x"}],
            )
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    with anthropic.Anthropic(base_url=gw.url, api_key="wrong", max_retries=0) as c:
        with pytest.raises(anthropic.AuthenticationError):
            c.messages.create(
                model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )


def test_health_and_readiness(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    assert rawhttp.request("GET", gw.url + "/healthz").json() == {"status": "ok"}
    ready = rawhttp.request("GET", gw.url + "/readyz")
    assert ready.status == 200 and ready.json() == {"status": "ready"}


def test_chunked_body_over_the_size_limit(gateway: tuple[Gateway, str]) -> None:
    import http.client

    gw, key = gateway
    conn = http.client.HTTPConnection("127.0.0.1", int(gw.url.rsplit(":", 1)[1]), timeout=10)
    try:
        parts = iter(
            [b'{"model": "gpt", "messages": [{"role": "user", "content": "']
            + [b"x" * 1_000_000] * 9
        )
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=parts,
            headers={"authorization": f"Bearer {key}", "transfer-encoding": "chunked"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 413
        assert "larger than" in response.read().decode()
    finally:
        conn.close()


def test_client_that_leaves_while_sending_the_body(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: steward\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: 1000\r\n\r\n"
    )
    deadline = time.monotonic() + 5
    with capture_logs() as logs:
        with socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(head.encode() + b'{"model": "gpt", "messages": [')
            while gw.in_flight() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert gw.in_flight() == 1, "the request never reached the gateway"
        while gw.in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gw.in_flight() == 0, "the gateway kept waiting for a client that left"
    assert not [entry for entry in logs if entry["event"] == "request.unhandled"]
