"""The route stage: public model name to targets, tried by the fallback loop (routing/loop.py)."""

from __future__ import annotations

from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next
from steward.routing.loop import FallbackLoop
from steward.routing.targets import ModelTable


class RouteStage:
    """Calls `call_next` once per attempt, with `ctx.target` set to the target being tried."""

    def __init__(self, models: ModelTable, loop: FallbackLoop) -> None:
        self._models = models
        self._loop = loop

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        route = self._models.resolve(ctx.public_model or "")
        return await self._loop.run(ctx, route, call_next)
