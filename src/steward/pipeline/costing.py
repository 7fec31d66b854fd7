"""The cost of one call, from the usage the providers reported and the pricing table."""

from __future__ import annotations

from steward.costs import Pricing
from steward.pipeline.context import CallContext


def settle_cost(ctx: CallContext, pricing: Pricing) -> float | None:
    """Compute `ctx.cost_usd` once: the answer's cost plus that of every upstream answer paid
    for and not returned (`ctx.spent`: re-asks, samples, answers an output guard turned down),
    each at its own target's price. 0 for an answer served from cache; None when nothing is
    priced."""
    if ctx.cost_usd is None:
        if ctx.cache in ("hit", "semantic"):
            ctx.cost_usd = 0.0
            return ctx.cost_usd
        paid = list(ctx.spent)
        if ctx.target is not None and ctx.usage is not None:
            paid.append((ctx.target, ctx.usage))
        costs = [c for c in (pricing.cost_usd(t, u) for t, u in paid) if c is not None]
        if costs:
            ctx.cost_usd = round(sum(costs), 9)
    return ctx.cost_usd
