"""The ASGI entry point: the three call routes as pure ASGI, everything else through Starlette.

Starlette's routing, `Request` and `Response` cost about 60 µs of CPU per request
(docs/performance.md), more than the whole pipeline. POSTs to the call paths are served here
from the raw scope and two raw ASGI messages; the Starlette app keeps the rest: `/v1/models`,
health, 404 and 405 errors, and the lifespan.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import orjson
import structlog
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from steward.errors import StewardError
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Completion, Result
from steward.runtime import Runtime
from steward.server.errors import render_error, unhandled
from steward.server.routes import api_key_from
from steward.server.streaming import AnthropicEncoder, OpenAIEncoder, SSEResponse, StreamEncoder
from steward.types import Endpoint
from steward.wire.anthropic import chat_to_messages_response

CALL_PATHS: dict[str, Endpoint] = {
    "/v1/chat/completions": "chat",
    "/v1/messages": "messages",
    "/v1/embeddings": "embeddings",
}
_WANTED_HEADERS = frozenset({b"authorization", b"x-api-key", b"content-length"})
_OPTION_HEADERS = frozenset({b"cache-control", b"traceparent", b"tracestate"})
_JSON_TYPE = (b"content-type", b"application/json")


class GatewayApp:
    """What `create_app` returns: call POSTs go to `CallHandler`, every other scope to Starlette."""

    def __init__(self, runtime: Runtime, starlette: Starlette, calls: CallHandler) -> None:
        self.runtime = runtime
        self.starlette = starlette
        self.state: State = starlette.state
        self._calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in CALL_PATHS:
            await self._calls(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)


class CallHandler:
    """Pure ASGI for one call: read the body, build a `CallContext`, run the chain, render.

    It is also the endpoint of the call routes in the Starlette table, so that app is complete
    on its own and answers other methods on these paths with 405.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._limit = runtime.config.server.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        headers, options = _request_headers(scope["headers"])
        body = await read_body(receive, headers.get(b"content-length"), self._limit)
        if body is None:
            return  # the client left before it finished sending; nobody to answer
        ctx = CallContext(
            id=os.urandom(16).hex(),
            endpoint=CALL_PATHS[path],
            raw_body=body[0],
            credential=_credential(headers),
            body_bytes=body[1],
            headers=options,
        )
        # Every log line of this call carries its ids (the trace stage binds `trace_id`).
        structlog.contextvars.bind_contextvars(request_id=ctx.id)
        response: SSEResponse | JSONBytesResponse
        try:
            try:
                response = _render(ctx, await self._runtime.handle(ctx))
            except StewardError as exc:
                response = _error_response(ctx, exc)
            except Exception as exc:
                response = _error_response(ctx, unhandled(path, exc))
            await response(scope, receive, send)
        finally:
            structlog.contextvars.clear_contextvars()


class JSONBytesResponse:
    """An encoded JSON body sent as two ASGI messages, with its headers built once."""

    __slots__ = ("_body", "_headers", "_status")

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._status = status
        self._body = body
        self._headers = [
            _JSON_TYPE,
            (b"content-length", str(len(body)).encode()),
            *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self._status, "headers": self._headers}
        )
        await send({"type": "http.response.body", "body": self._body})


async def read_body(
    receive: Receive, declared: bytes | None, limit: int
) -> tuple[bytes, int] | None:
    """The body and its size, or None if the client left.

    Reading stops past `limit` (or does not start if Content-Length says so) with an empty body
    and the size seen; the parse stage refuses it.
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"", int(declared)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        part: bytes = message.get("body", b"")
        size += len(part)
        if size > limit:
            return b"", size
        parts.append(part)
        if not message.get("more_body", False):
            return b"".join(parts), size


def _request_headers(
    raw: Iterable[tuple[bytes, bytes]],
) -> tuple[dict[bytes, bytes], dict[str, str]]:
    """The headers the call path reads, and the options stages read (`cache-control`, the trace
    context, `x-steward-*`); the first of repeated ones wins, as in Starlette."""
    found: dict[bytes, bytes] = {}
    options: dict[str, str] = {}
    for name, value in raw:
        if name in _WANTED_HEADERS:
            found.setdefault(name, value)
        elif name in _OPTION_HEADERS or name.startswith(b"x-steward-"):
            options.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found, options


def _credential(headers: dict[bytes, bytes]) -> str | None:
    authorization = headers.get(b"authorization")
    api_key = headers.get(b"x-api-key")
    return api_key_from(
        authorization.decode("latin-1") if authorization is not None else None,
        api_key.decode("latin-1") if api_key is not None else None,
    )


def _render(ctx: CallContext, result: Result) -> SSEResponse | JSONBytesResponse:
    headers = {"x-request-id": ctx.id, "x-steward-target": str(ctx.target), **ctx.response_headers}
    if isinstance(result, ChatStream):
        return SSEResponse(result, _encoder(ctx), headers)
    body = result.body
    if ctx.cost_usd is not None:  # set by the record stage once it has the usage
        headers["x-steward-cost-usd"] = f"{ctx.cost_usd:.8g}"
    if isinstance(result, Completion) and ctx.endpoint == "messages":
        body = chat_to_messages_response(body, model=ctx.public_model or "")
    return JSONBytesResponse(200, orjson.dumps(body), headers)


def _encoder(ctx: CallContext) -> StreamEncoder:
    if ctx.endpoint == "messages":
        return AnthropicEncoder(model=ctx.public_model or "", message_id=f"msg_{ctx.id}")
    return OpenAIEncoder(include_usage=ctx.chat_request().wants_usage_in_stream())


def _error_response(ctx: CallContext, error: StewardError) -> JSONBytesResponse:
    status, headers, body = render_error(
        error, anthropic=ctx.endpoint == "messages", request_id=ctx.id
    )
    return JSONBytesResponse(status, body, {**headers, **ctx.response_headers})
