"""The cost of one call, from the usage the provider reported and the pricing table."""

from __future__ import annotations

from steward.costs import Pricing
from steward.pipeline.context import CallContext


def settle_cost(ctx: CallContext, pricing: Pricing) -> float | None:
    """Compute `ctx.cost_usd` once: 0 for an answer served from cache, None when unpriced."""
    if ctx.cost_usd is None:
        if ctx.cache in ("hit", "semantic"):
            ctx.cost_usd = 0.0
        elif ctx.target is not None and ctx.usage is not None:
            ctx.cost_usd = pricing.cost_usd(ctx.target, ctx.usage)
    return ctx.cost_usd
