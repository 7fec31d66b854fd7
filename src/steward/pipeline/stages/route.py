"""The route stage: public model name to the first healthy target (fallback loops come later)."""

from __future__ import annotations

from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next
from steward.routing.targets import ModelTable


class RouteStage:
    def __init__(self, models: ModelTable) -> None:
        self._models = models

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        route = self._models.resolve(ctx.public_model or "")
        ctx.target = self._models.first_healthy(route, ctx.operation)
        return await call_next(ctx)
