"""Server-sent events out of a ChatStream, with disconnect detection and a finaliser that always runs."""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog
from starlette.types import Receive, Scope, Send

from steward.errors import ClientDisconnectedError, StewardError, UpstreamProtocolError
from steward.pipeline.result import ChatStream
from steward.types import JSONObject
from steward.wire import sse
from steward.wire.anthropic import MessagesStreamEncoder
from steward.wire.openai import TokenUsage

log = structlog.get_logger("steward.stream")


class StreamEncoder(Protocol):
    """Turns canonical chunks into one wire format's SSE bytes."""

    def encode(self, chunk: JSONObject) -> bytes: ...
    def finish(self, usage: TokenUsage | None) -> bytes: ...
    def error(self, error: StewardError) -> bytes: ...


class OpenAIEncoder:
    """OpenAI SSE; the usage-only chunk Steward always asks for is dropped unless the client asked."""

    def __init__(self, *, include_usage: bool) -> None:
        self._include_usage = include_usage

    def encode(self, chunk: JSONObject) -> bytes:
        if not self._include_usage and not chunk.get("choices"):
            return b""
        if not self._include_usage and chunk.get("usage") is not None:
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
        return sse.encode_event(chunk)

    def finish(self, usage: TokenUsage | None) -> bytes:
        return sse.DONE

    def error(self, error: StewardError) -> bytes:
        body = {"error": {"message": error.message, "type": error.error_type, "code": error.code}}
        return sse.encode_event(body)


class AnthropicEncoder:
    """Anthropic Messages SSE events."""

    def __init__(self, *, model: str, message_id: str) -> None:
        self._encoder = MessagesStreamEncoder(model, message_id)

    def encode(self, chunk: JSONObject) -> bytes:
        return b"".join(sse.encode_event(data, event) for event, data in self._encoder.feed(chunk))

    def finish(self, usage: TokenUsage | None) -> bytes:
        return b"".join(
            sse.encode_event(data, event) for event, data in self._encoder.finish(usage)
        )

    def error(self, error: StewardError) -> bytes:
        event, data = self._encoder.error_event("api_error", error.message)
        return sse.encode_event(data, event)


class SSEResponse:
    """A pure-ASGI streaming response.

    A task watches for `http.disconnect`; when the client goes away it cancels the sender, which
    closes the upstream stream at once. Whatever happens, `stream.aclose(error)` runs so the
    record is written with the right outcome.
    """

    def __init__(self, stream: ChatStream, encoder: StreamEncoder, headers: dict[str, str]) -> None:
        self._stream = stream
        self._encoder = encoder
        self._headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        self._disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *self._headers,
                ],
            }
        )
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch(receive, task))
        error: BaseException | None = None
        try:
            error = await self._pump(send)
        except asyncio.CancelledError:
            if not self._disconnected:
                raise
            task.uncancel()
            error = ClientDisconnectedError("The client closed the connection mid-stream.")
        finally:
            watcher.cancel()
            # Shielded: a late disconnect must not stop the finaliser that writes the record.
            await asyncio.shield(asyncio.ensure_future(self._stream.aclose(error)))

    async def _pump(self, send: Send) -> StewardError | None:
        error: StewardError | None = None
        try:
            async for chunk in self._stream:
                data = self._encoder.encode(chunk)
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            tail = self._encoder.finish(self._stream.usage)
        except StewardError as exc:
            error = exc
            tail = self._encoder.error(exc)
        except Exception:
            log.exception("stream.failed")
            error = UpstreamProtocolError("The stream failed inside the gateway; see its logs.")
            tail = self._encoder.error(error)
        await send({"type": "http.response.body", "body": tail, "more_body": False})
        return error

    async def _watch(self, receive: Receive, task: asyncio.Task[object]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                task.cancel()
                return
