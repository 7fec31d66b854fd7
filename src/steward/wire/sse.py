"""Server-sent events: encoding outgoing events and incrementally decoding upstream streams."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from steward.types import JSONObject

__all__ = ["DONE", "SSEDecoder", "SSEEvent", "encode_event"]

DONE = b"data: [DONE]\n\n"
"""The sentinel that ends an OpenAI chat stream."""

_BOM = b"\xef\xbb\xbf"


def encode_event(data: bytes | JSONObject | str, event: str | None = None) -> bytes:
    """One SSE event: dicts are JSON-encoded; multi-line text becomes several `data:` lines."""
    if isinstance(data, dict):
        payload = orjson.dumps(data)
    elif isinstance(data, str):
        payload = data.encode()
    else:
        payload = data
    if b"\n" in payload or b"\r" in payload:
        payload = b"\ndata: ".join(payload.splitlines())
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


@dataclass(slots=True)
class SSEEvent:
    """A dispatched event: its `event:` name (None for the default) and its joined `data:` lines."""

    event: str | None
    data: str


class SSEDecoder:
    """Turns a byte stream into events, whatever the chunk boundaries.

    Work is done with bytes operations on whole chunks, never per character, and each byte is
    searched once however many chunks an event spans, because this runs on every chunk of every
    streamed response.
    """

    __slots__ = ("_after_cr", "_buffer", "_started")

    def __init__(self) -> None:
        self._buffer = bytearray()  # never holds a complete "\n\n" boundary between calls
        self._after_cr = False
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Events completed by `chunk`; an incomplete tail waits for the next call."""
        if b"\r" in chunk or self._after_cr:
            chunk = self._normalise(chunk)
        start = max(len(self._buffer) - 1, 0)
        self._buffer += chunk
        end = self._buffer.rfind(b"\n\n", start)
        if end < 0:
            return []
        complete = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        if not self._started:
            self._started = True
            complete = complete.removeprefix(_BOM)
        blocks = complete.split(b"\n\n")
        return [event for block in blocks if (event := _parse_block(block)) is not None]

    def finish(self) -> list[SSEEvent]:
        """Dispatch a last event the server did not terminate with a blank line."""
        block = bytes(self._buffer)
        self._buffer.clear()
        if not self._started:
            block = block.removeprefix(_BOM)
        event = _parse_block(block) if block.strip(b"\n") else None
        return [event] if event is not None else []

    def _normalise(self, chunk: bytes) -> bytes:
        """CRLF and CR line ends become LF, also when a CRLF is split across two chunks."""
        skip_lf = self._after_cr and chunk.startswith(b"\n")
        self._after_cr = chunk.endswith(b"\r")
        if skip_lf:
            chunk = chunk[1:]  # the CR before it already became this line end
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _parse_block(block: bytes) -> SSEEvent | None:
    # Fast paths for the two shapes real servers send: "data: X" and "event: N\ndata: X".
    if block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(None, block[6:].decode(errors="replace"))
    if block.startswith(b"event: "):
        newline = block.find(b"\n")
        if block.startswith(b"data: ", newline + 1) and block.find(b"\n", newline + 1) < 0:
            data = block[newline + 7 :].decode(errors="replace")
            return SSEEvent(block[7:newline].decode(errors="replace") or None, data)
    return _parse_fields(block)


def _parse_fields(block: bytes) -> SSEEvent | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode(errors="replace") or None
    if not data:
        return None
    return SSEEvent(name, b"\n".join(data).decode(errors="replace"))
