"""Thin Starlette route handlers for everything but the calls (those are in server/asgi.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from steward.errors import PermissionDeniedError, StewardError
from steward.pipeline.stages.auth import authenticate
from steward.runtime import Runtime
from steward.server.errors import error_response
from steward.tenancy.roles import Actor, actor_for, require

JSON = "application/json"


def keyed(
    view: Callable[[Runtime], object], *, data_plane: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """A GET handler that needs an API key and answers `view(runtime)` as JSON: any caller's
    key on the data plane (/v1), a person's key with `ops:read` on the admin plane (/api)."""

    async def handler(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            if data_plane:
                required = runtime.config.auth.required
                authenticate(runtime.keyring, credential(request), required=required)
            else:
                require(api_actor(runtime, request), "ops:read")
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


list_models = keyed(_models, data_plane=True)
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


def api_actor(runtime: Runtime, request: Request) -> Actor:
    """The admin plane always needs a key, whatever `[auth] required` says; app keys are
    for /v1 only."""
    principal = authenticate(runtime.keyring, credential(request), required=True)
    if principal.role == "app":
        raise PermissionDeniedError(
            "App keys may only call /v1; use a person's key (admin, owner, developer, "
            "reviewer or viewer) for /api."
        )
    return actor_for(principal)


def credential(request: Request) -> str | None:
    return api_key_from(request.headers.get("authorization"), request.headers.get("x-api-key"))


def api_key_from(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key from `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return x_api_key or None
