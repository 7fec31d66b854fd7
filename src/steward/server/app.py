"""The ASGI app: the pure-ASGI call path in front of Starlette (other routes, errors, lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from steward.errors import NotFoundError, StewardError
from steward.runtime import Runtime
from steward.server import routes
from steward.server.admin.routes import admin_routes
from steward.server.asgi import CALL_PATHS, CallHandler, GatewayApp
from steward.server.errors import error_response, unhandled
from steward.server.metrics import metrics_routes
from steward.server.prompts import prompt_routes


def create_app(runtime: Runtime) -> GatewayApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    calls = CallHandler(runtime)
    app = Starlette(
        routes=[
            *(Route(path, calls, methods=["POST"]) for path in CALL_PATHS),
            Route("/v1/models", routes.list_models, methods=["GET"]),
            *prompt_routes(),
            Route("/api/cache/stats", routes.cache_stats, methods=["GET"]),
            Route("/api/health/targets", routes.target_health, methods=["GET"]),
            *admin_routes(),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            *metrics_routes(runtime),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return GatewayApp(runtime, app, calls)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error: StewardError = NotFoundError(
            f"{request.method} is not allowed on {request.url.path}; see the API reference."
        )
        error.code = "method_not_allowed"
        response = error_response(error)
        response.status_code = 405
        return response
    return error_response(
        NotFoundError(
            f"There is no endpoint at {request.url.path}. OpenAI clients should use "
            "base_url http://HOST:PORT/v1; Anthropic clients base_url http://HOST:PORT."
        ),
        anthropic=request.url.path.startswith("/v1/messages"),
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(
        unhandled(request.url.path, exc),
        anthropic=request.url.path.startswith("/v1/messages"),
    )
