"""`GET /metrics`: the Prometheus text format, open or behind an admin key (`[metrics]`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from steward.errors import PermissionDeniedError, StewardError
from steward.observe.metrics import CONTENT_TYPE
from steward.runtime import Runtime
from steward.server.errors import error_response
from steward.server.routes import api_actor
from steward.tenancy.roles import require

__all__ = ["metrics_routes"]


def metrics_routes(runtime: Runtime) -> list[Route]:
    """The route, or none when `[metrics] enabled = false` (then `/metrics` is a 404)."""
    if runtime.metrics is None:
        return []
    return [Route("/metrics", scrape, methods=["GET"])]


async def scrape(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    assert runtime.metrics is not None
    if runtime.config.metrics.require_key:
        try:
            authorise(runtime, request)
        except StewardError as exc:
            return error_response(exc)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)


def authorise(runtime: Runtime, request: Request) -> None:
    """A person's key with `ops:read` that sees the whole organisation: the metrics carry every
    team's cost and budgets, which a team-bound key may not see."""
    actor = api_actor(runtime, request)
    require(actor, "ops:read")
    if not actor.org_wide:
        raise PermissionDeniedError(
            "Metrics cover every team; scrape with an admin key "
            "(or set [metrics] require_key = false and keep the port private)."
        )
