"""Thin Starlette route handlers for everything but the calls (those are in server/asgi.py)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from steward.errors import StewardError
from steward.pipeline.stages.auth import authenticate
from steward.runtime import Runtime
from steward.server.errors import error_response

JSON = "application/json"


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
    return api_key_from(request.headers.get("authorization"), request.headers.get("x-api-key"))


def api_key_from(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key from `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return x_api_key or None
