"""Starlette routes for the admin table: authenticate, authorise, parse, run off the loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.to_thread
import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from steward.errors import InvalidRequestError, StewardError
from steward.runtime import Runtime
from steward.server.admin.endpoints import ENDPOINTS, Call, Endpoint
from steward.server.admin.openapi import openapi_document
from steward.server.errors import error_response
from steward.server.routes import api_actor
from steward.tenancy.admin import Admin
from steward.tenancy.roles import require

JSON = "application/json"


def admin_routes() -> list[Route]:
    grouped: dict[str, dict[str, Endpoint]] = {}
    for endpoint in ENDPOINTS:
        grouped.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    routes = [
        Route(path, _handler(by_method), methods=list(by_method))
        for path, by_method in grouped.items()
    ]
    routes.append(Route("/api/openapi.json", _openapi, methods=["GET"]))
    return routes


def _handler(by_method: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        endpoint = by_method[request.method]
        try:
            actor = api_actor(runtime, request)
            require(actor, endpoint.permission)
            call = Call(
                path=dict(request.path_params),
                query=dict(request.query_params),
                body=await _parse(request, endpoint),
            )
            admin = Admin(runtime.engine, actor)
            result = await anyio.to_thread.run_sync(endpoint.run, admin, call)
            if endpoint.method != "GET":
                # This replica sees its own change at once; others within the refresh interval.
                await anyio.to_thread.run_sync(runtime.refresher.refresh)
        except StewardError as exc:
            return error_response(exc)
        return Response(orjson.dumps(result), status_code=endpoint.status, media_type=JSON)

    return handler


async def _parse(request: Request, endpoint: Endpoint) -> BaseModel | None:
    if endpoint.body is None:
        return None
    raw = await request.body()
    try:
        return endpoint.body.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequestError(
            f"The request body is not valid for {endpoint.method} {endpoint.path}: {problems}. "
            "GET /api/openapi.json describes it."
        ) from None


async def _openapi(request: Request) -> Response:
    return Response(orjson.dumps(openapi_document()), media_type=JSON)
