"""The ASGI application: routes, error handlers and the lifespan that starts the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from steward.errors import NotFoundError, StewardError
from steward.runtime import Runtime
from steward.server import routes
from steward.server.errors import error_response

log = structlog.get_logger("steward.server")


def create_app(runtime: Runtime) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", routes.chat_completions, methods=["POST"]),
            Route("/v1/messages", routes.messages, methods=["POST"]),
            Route("/v1/embeddings", routes.embeddings, methods=["POST"]),
            Route("/v1/models", routes.list_models, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


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
    log.error("request.unhandled", path=request.url.path, exc_info=exc)
    return error_response(
        StewardError("The gateway hit an internal error; it is logged. Retry, or report it."),
        anthropic=request.url.path.startswith("/v1/messages"),
    )
