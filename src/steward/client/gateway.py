"""An async client of the gateway's `/v1` API over Steward's own HTTP transport.

The evaluation runner, the red-team and the load tester all call the gateway the way an app
does, so every call they make is authenticated, limited, routed, cached and recorded like any
other. Errors come back as `GatewayError` with the gateway's own message and status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NoReturn

import orjson

from steward.errors import ProviderError, UpstreamStatusError
from steward.providers.http import HTTPClient, Timeouts
from steward.types import JSONObject
from steward.wire.sse import SSEDecoder

__all__ = ["GatewayClient", "GatewayError", "Reply", "StreamReply"]

_KEPT_HEADERS = (
    "x-request-id",
    "x-steward-target",
    "x-steward-cache",
    "x-steward-cache-similarity",
    "x-steward-prompt",
    "x-steward-confidence",
    "x-steward-cost-usd",
)


class GatewayError(Exception):
    """A call the gateway refused or could not serve; `status` 0 means no HTTP answer."""

    def __init__(self, message: str, *, status: int, latency_ms: float) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.latency_ms = latency_ms

    @property
    def retryable(self) -> bool:
        return self.status in (0, 408, 429) or self.status >= 500


class _Headers:
    """What a reply's headers say: its record's id, its cost and the target that served it."""

    __slots__ = ()
    headers: Mapping[str, str]

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")

    @property
    def cost_usd(self) -> float | None:
        """The call's cost as the gateway priced it (`x-steward-cost-usd`), when it says; a
        stream's headers precede its usage, so a streamed reply has none."""
        value = self.headers.get("x-steward-cost-usd")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    @property
    def target(self) -> str | None:
        return self.headers.get("x-steward-target")


@dataclass(frozen=True, slots=True)
class Reply(_Headers):
    """One answered chat completion."""

    body: JSONObject
    latency_ms: float
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        choices = self.body.get("choices")
        if not isinstance(choices, list) or not choices:
            return ""
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else ""

    @property
    def input_tokens(self) -> int | None:
        return self._usage("prompt_tokens")

    @property
    def output_tokens(self) -> int | None:
        return self._usage("completion_tokens")

    def _usage(self, name: str) -> int | None:
        usage = self.body.get("usage")
        value = usage.get(name) if isinstance(usage, dict) else None
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class StreamReply(_Headers):
    """One streamed chat completion, read to its last event.

    `ttft_ms` is the time to the first chunk that carries a choice, as the gateway's own
    time-to-first-token metric counts it. Usage comes from the `include_usage` chunk.
    """

    text: str
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class GatewayClient:
    """`async with GatewayClient(base_url, api_key) as client: await client.chat({...})`.

    `base_url` is the gateway's root or its `/v1` URL, e.g. `http://127.0.0.1:8787`.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 120.0) -> None:
        root = base_url.rstrip("/")
        self._url = (root if root.endswith("/v1") else root + "/v1") + "/chat/completions"
        self._headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self._timeouts = Timeouts(
            total_s=timeout_s, connect_s=min(10.0, timeout_s), idle_s=timeout_s
        )
        self._http = HTTPClient()

    async def __aenter__(self) -> GatewayClient:
        await self._http.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def chat(self, body: JSONObject, *, headers: Mapping[str, str] | None = None) -> Reply:
        """POST a non-streamed chat completion; raise `GatewayError` on any failure."""
        started = time.perf_counter()
        request_headers = {**self._headers, **(headers or {})}
        try:
            async with self._http.post(
                self._url,
                {**body, "stream": False},
                headers=request_headers,
                provider="the gateway",
                timeouts=self._timeouts,
                error_message=_message,
            ) as response:
                data = await response.json()
                kept = {name: value for name in _KEPT_HEADERS if (value := response.header(name))}
        except UpstreamStatusError as exc:
            message = exc.message.replace("Provider the gateway", "The gateway", 1)
            raise GatewayError(
                message, status=exc.upstream_status, latency_ms=_since(started)
            ) from None
        except ProviderError as exc:
            raise GatewayError(exc.message, status=0, latency_ms=_since(started)) from None
        return Reply(body=data, latency_ms=_since(started), headers=kept)

    async def chat_stream(
        self, body: JSONObject, *, headers: Mapping[str, str] | None = None
    ) -> StreamReply:
        """POST a streamed chat completion (asking for usage) and read it to its end; raise
        `GatewayError` on any failure, also on an error event mid-stream (status 0)."""
        started = time.perf_counter()
        request_headers = {**self._headers, **(headers or {})}
        payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
        reader = _StreamReader(started)
        try:
            async with self._http.post(
                self._url,
                payload,
                headers=request_headers,
                provider="the gateway",
                timeouts=self._timeouts,
                error_message=_message,
            ) as response:
                kept = {name: value for name in _KEPT_HEADERS if (value := response.header(name))}
                async for data in response.iter_chunks():
                    reader.feed(data)
        except UpstreamStatusError as exc:
            message = exc.message.replace("Provider the gateway", "The gateway", 1)
            raise GatewayError(
                message, status=exc.upstream_status, latency_ms=_since(started)
            ) from None
        except ProviderError as exc:
            raise GatewayError(exc.message, status=0, latency_ms=_since(started)) from None
        return reader.reply(kept)


class _StreamReader:
    """Decodes an OpenAI chat stream: text, time to the first choice, usage, error events."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._decoder = SSEDecoder()
        self._parts: list[str] = []
        self._ttft_ms: float | None = None
        self._usage: dict[str, Any] = {}
        self._done = False

    def feed(self, data: bytes) -> None:
        for event in self._decoder.feed(data):
            if event.data == "[DONE]":
                self._done = True
                continue
            try:
                chunk = orjson.loads(event.data)
            except ValueError:
                self._fail("The gateway sent a stream event that is not JSON.")
            if isinstance(chunk, dict):
                self._take(chunk)

    def _take(self, chunk: dict[str, Any]) -> None:
        if isinstance(chunk.get("error"), dict):
            self._fail(f"The stream broke off: {_message(chunk)}")
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices:
            if self._ttft_ms is None:
                self._ttft_ms = _since(self._started)
            delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                self._parts.append(content)
        if isinstance(usage := chunk.get("usage"), dict):
            self._usage = usage

    def reply(self, headers: Mapping[str, str]) -> StreamReply:
        if not self._done:
            self._fail("The stream ended before its last event ([DONE]).")
        prompt, completion = self._usage.get("prompt_tokens"), self._usage.get("completion_tokens")
        return StreamReply(
            text="".join(self._parts),
            latency_ms=_since(self._started),
            ttft_ms=self._ttft_ms,
            input_tokens=prompt if isinstance(prompt, int) else None,
            output_tokens=completion if isinstance(completion, int) else None,
            headers=headers,
        )

    def _fail(self, message: str) -> NoReturn:
        raise GatewayError(message, status=0, latency_ms=_since(self._started))


def _message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else "no details"


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
