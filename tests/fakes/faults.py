"""Scripted faults and the machinery that applies them: the ledger, the fault gate, event streams.

Faults that act before a response exists (delay, reset, status, and malformed or stalled
non-stream bodies) are applied by `FaultGate`, a pure ASGI middleware in front of the routes.
Faults that act mid-stream (malformed event, stall, chunk delay) are applied by `EventStream`.
Reply content (`content`, `tool_call`) is decided by the routes through `Call`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JsonObject = dict[str, Any]
TransportFinder = Callable[[Scope], "asyncio.Transport | None"]

_CALL_KEY = "fake_provider.call"
_MALFORMED_BODY = b'{"id": "malformed", "object": "chat.completion", "choices": ['


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour for one request; `Fault()` means "behave normally".

    Applied in this order: `delay_s`, then `reset` or `status`; for non-stream requests
    `malformed` or `stall_after_chunks` replace the body; streams apply them mid-stream.
    """

    status: int | None = None  # answer with this status and an error body in the wire shape
    retry_after: float | None = None  # add a Retry-After header to whatever is answered
    delay_s: float = 0.0  # wait before answering (ends early if the client leaves)
    reset: bool = False  # drop the TCP connection with an RST and no HTTP response
    malformed: bool = False  # 200 with invalid JSON, or one broken SSE event after the first
    stall_after_chunks: int | None = None  # send N events, then hang until the client leaves
    chunk_delay_s: float = 0.0  # pause between stream events
    content: str | None = None  # reply text instead of "echo: <last user text>"
    tool_call: bool = False  # call the first (or the forced) tool even if not asked to
    message: str | None = None  # the error message that goes with `status`
    reply: Callable[[JsonObject], str] | None = None  # reply text computed from the request body


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as the fake saw it; `fault` is the scripted fault it consumed, if any."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    fault: Fault | None


class Ledger:
    """State shared by the test thread and the server loop, guarded by one condition."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Fault] = deque()
        self._default: Fault | None = None
        self._requests: list[ReceivedRequest] = []
        self._disconnects = 0

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def disconnects(self) -> int:
        with self._cond:
            return self._disconnects

    def script(self, faults: Iterable[Fault]) -> None:
        with self._cond:
            self._queue.extend(faults)

    def set_default(self, fault: Fault | None) -> None:
        with self._cond:
            self._default = fault

    def admit(self, request: ReceivedRequest) -> tuple[Fault | None, int]:
        """Take the next fault and record the request with it; return the fault and a sequence."""
        with self._cond:
            fault = self._queue.popleft() if self._queue else self._default
            self._requests.append(dataclasses.replace(request, fault=fault))
            return fault, len(self._requests)

    def note_disconnect(self) -> None:
        with self._cond:
            self._disconnects += 1
            self._cond.notify_all()

    def wait_for_disconnects(self, count: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._disconnects >= count, timeout_s)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._default = None
            self._requests.clear()
            self._disconnects = 0


@dataclass(frozen=True, slots=True)
class Call:
    """What a route needs to know about the request it serves: body, fault and sequence number."""

    seq: int
    body: JsonObject
    fault: Fault
    ledger: Ledger

    @property
    def streaming(self) -> bool:
        return self.body.get("stream") is True

    def reply_text(self, user_text: str) -> str:
        if self.fault.reply is not None:
            return self.fault.reply(self.body)
        return self.fault.content if self.fault.content is not None else f"echo: {user_text}"

    def tool_to_call(
        self, names: list[str], *, user_text: str, forced: str | None, disabled: bool
    ) -> str | None:
        """Name of the tool the reply calls, or None for a text reply."""
        if not names:
            return None
        if self.fault.tool_call:
            return forced or names[0]
        if forced is not None:
            return forced
        if disabled:
            return None
        return names[0] if "use the tool" in user_text.lower() else None


def call_of(request: Request) -> Call:
    return cast(Call, request.scope[_CALL_KEY])


# Text helpers shared by both wire formats (OpenAI parts and Anthropic blocks share the shape).


def text_of(content: object) -> str:
    """Text of a message content: a string, or a list of `{"type": "text", "text": ...}` parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]
    return " ".join(texts)


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def count_words(texts: Iterable[str]) -> int:
    """The fake's deterministic token count: whitespace-separated words."""
    return sum(len(text.split()) for text in texts)


def split_words(text: str) -> list[str]:
    """Split into words that keep their trailing whitespace, so the pieces join back to `text`."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


def halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def sse(data: JsonObject, *, named: bool = False) -> bytes:
    """One SSE event; `named` adds an `event:` line taken from the payload's `type` (Anthropic)."""
    prefix = f"event: {data['type']}\n" if named else ""
    return f"{prefix}data: {json.dumps(data)}\n\n".encode()


# Error bodies in each wire shape.

_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS: dict[int, str] = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def openai_error(status: int, message: str, *, param: str | None = None) -> Response:
    default = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    kind, code = _OPENAI_ERRORS.get(status, default)
    error = {"message": message, "type": kind, "param": param, "code": code}
    return JSONResponse({"error": error}, status_code=status)


def anthropic_error(status: int, message: str) -> Response:
    default = "api_error" if status >= 500 else "invalid_request_error"
    error = {"type": _ANTHROPIC_ERRORS.get(status, default), "message": message}
    return JSONResponse({"type": "error", "error": error}, status_code=status)


def error_for(path: str, status: int, message: str) -> Response:
    """An error in the wire shape of the endpoint at `path`."""
    if path.startswith("/v1/messages"):
        return anthropic_error(status, message)
    return openai_error(status, message)


# Disconnect-aware waiting.


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client has gone away (the request body must already be consumed)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def run_unless_disconnected(work: Awaitable[None], receive: Receive) -> bool:
    """Run `work`; if the client goes away first, cancel it and return True."""
    worker = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait((worker, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        worker.cancel()
        watcher.cancel()
        await asyncio.gather(worker, watcher, return_exceptions=True)
    if worker.cancelled():
        return True
    worker.result()
    return False


class EventStream(Response):
    """A streamed body that applies chunk delay, malformed and stall faults and counts disconnects.

    With no events it is a non-stream body that stalls right after the headers.
    """

    def __init__(
        self,
        events: list[bytes],
        call: Call,
        *,
        broken: bytes = b"",
        media_type: str = "text/event-stream",
    ) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers({"cache-control": "no-cache"})
        self._events = [*events[:1], broken, *events[1:]] if call.fault.malformed else events
        self._call = call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if await run_unless_disconnected(self._pump(send), receive):
            self._call.ledger.note_disconnect()

    async def _pump(self, send: Send) -> None:
        fault = self._call.fault
        limit = fault.stall_after_chunks
        for index, event in enumerate(self._events):
            if limit is not None and index >= limit:
                break
            if index and fault.chunk_delay_s > 0:
                await asyncio.sleep(fault.chunk_delay_s)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if limit is not None:
            await asyncio.get_running_loop().create_future()  # hang until the client leaves
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class FaultGate:
    """Pure ASGI middleware: records each request, takes its fault, applies the pre-route ones."""

    def __init__(self, app: ASGIApp, ledger: Ledger, find_transport: TransportFinder) -> None:
        self.app = app
        self.ledger = ledger
        self.find_transport = find_transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        if raw is None:
            return
        parsed = _parse_json(raw)
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        query = scope.get("query_string", b"").decode("latin-1")
        received = ReceivedRequest(scope["method"], scope["path"], query, headers, parsed, None)
        fault, seq = self.ledger.admit(received)
        call = Call(seq, parsed if isinstance(parsed, dict) else {}, fault or Fault(), self.ledger)
        scope[_CALL_KEY] = call
        await self._serve(scope, receive, _with_retry_after(send, call.fault.retry_after), call)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, call: Call) -> None:
        fault = call.fault
        if fault.delay_s > 0 and await run_unless_disconnected(
            asyncio.sleep(fault.delay_s), receive
        ):
            self.ledger.note_disconnect()
            return
        if fault.reset:
            await self._reset(scope, receive)
            return
        respond: ASGIApp = self.app
        if fault.status is not None:
            message = fault.message or f"scripted fault: HTTP {fault.status}"
            respond = error_for(scope["path"], fault.status, message)
        elif fault.malformed and not call.streaming:
            respond = Response(_MALFORMED_BODY, media_type="application/json")
        elif fault.stall_after_chunks is not None and not call.streaming:
            respond = EventStream([], call, media_type="application/json")
        await respond(scope, receive, send)

    async def _reset(self, scope: Scope, receive: Receive) -> None:
        """Drop the connection with a TCP RST and no HTTP response at all."""
        transport = self.find_transport(scope)
        if transport is None:
            raise RuntimeError(
                f"fake provider: no open connection for client {scope.get('client')}"
            )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger with a zero timeout turns close() into an RST instead of a FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await wait_for_disconnect(receive)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away while sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _with_retry_after(send: Send, retry_after: float | None) -> Send:
    if retry_after is None:
        return send
    value = f"{retry_after:g}".encode()

    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"retry-after", value)]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_header
