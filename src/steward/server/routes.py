"""Thin Starlette route handlers for everything but the calls (those are in server/asgi.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from steward.errors import StewardError
from steward.pipeline.stages.auth import authenticate
from steward.runtime import Runtime
from steward.server.errors import error_response

JSON = "application/json"


def keyed(view: Callable[[Runtime], object]) -> Callable[[Request], Awaitable[Response]]:
    """A GET handler that needs an API key and answers `view(runtime)` as JSON."""

    async def handler(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            authenticate(
                runtime.keyring, credential(request), required=runtime.config.auth.required
            )
        except StewardError as exc:
            return error_response(exc)
        return Response(orjson.dumps(view(runtime)), media_type=JSON)

    return handler


def _models(runtime: Runtime) -> object:
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "steward"}
        for name in runtime.models.names()
    ]
    return {"object": "list", "data": data}


def _cache_stats(runtime: Runtime) -> object:
    """Per-model cache counters of this replica since it started."""
    return {"backend": runtime.cache.backend, "models": runtime.cache.stats.snapshot()}


def _target_health(runtime: Runtime) -> object:
    """Per target: breaker state, error rate and latency percentiles (fleet-wide with Redis)."""
    return {"shared": runtime.redis is not None, "targets": runtime.target_health()}


list_models = keyed(_models)
cache_stats = keyed(_cache_stats)
target_health = keyed(_target_health)


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
