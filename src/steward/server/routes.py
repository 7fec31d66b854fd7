"""Thin route handlers: read the body, build a call context, run the pipeline, render."""

from __future__ import annotations

import os

import orjson
from starlette.requests import Request
from starlette.responses import Response

from steward.errors import StewardError
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stages.auth import authenticate
from steward.runtime import Runtime
from steward.server.errors import error_response
from steward.server.streaming import AnthropicEncoder, OpenAIEncoder, SSEResponse, StreamEncoder
from steward.types import Endpoint
from steward.wire.anthropic import chat_to_messages_response

JSON = "application/json"


async def chat_completions(request: Request) -> Response | SSEResponse:
    return await _call(request, "chat")


async def messages(request: Request) -> Response | SSEResponse:
    return await _call(request, "messages")


async def embeddings(request: Request) -> Response | SSEResponse:
    return await _call(request, "embeddings")


async def list_models(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        authenticate(runtime.keyring, credential(request), required=runtime.config.auth.required)
    except StewardError as exc:
        return error_response(exc)
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "steward"}
        for name in runtime.models.names()
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    problems = runtime.readiness()
    if problems:
        body = {"status": "not ready", "problems": problems}
        return Response(orjson.dumps(body), status_code=503, media_type=JSON)
    return Response(b'{"status":"ready"}', media_type=JSON)


def credential(request: Request) -> str | None:
    """The API key from `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key") or None


async def read_body(request: Request, limit: int) -> tuple[bytes, int]:
    """The body and its size; reading stops past `limit`, and the parse stage refuses it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return b"", int(declared)
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        parts.append(part)
        size += len(part)
        if size > limit:
            return b"", size
    return b"".join(parts), size


async def _call(request: Request, endpoint: Endpoint) -> Response | SSEResponse:
    runtime: Runtime = request.app.state.runtime
    request_id = os.urandom(16).hex()
    raw, size = await read_body(request, runtime.config.server.max_body_bytes)
    ctx = CallContext(
        id=request_id,
        endpoint=endpoint,
        raw_body=raw,
        credential=credential(request),
        body_bytes=size,
    )
    try:
        result = await runtime.handle(ctx)
    except StewardError as exc:
        return error_response(exc, anthropic=endpoint == "messages", request_id=request_id)
    return _render(ctx, result)


def _render(ctx: CallContext, result: Result) -> Response | SSEResponse:
    headers = {"x-request-id": ctx.id, "x-steward-target": str(ctx.target)}
    if isinstance(result, ChatStream):
        return SSEResponse(result, _encoder(ctx), headers)
    body = result.body
    if isinstance(result, Completion) and ctx.endpoint == "messages":
        body = chat_to_messages_response(body, model=ctx.public_model or "")
    return Response(orjson.dumps(body), media_type=JSON, headers=headers)


def _encoder(ctx: CallContext) -> StreamEncoder:
    if ctx.endpoint == "messages":
        return AnthropicEncoder(model=ctx.public_model or "", message_id=f"msg_{ctx.id}")
    return OpenAIEncoder(include_usage=ctx.chat_request().wants_usage_in_stream())
