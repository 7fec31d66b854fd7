"""Prices per target (config over the shipped catalog), the cost of a call, and its worst case."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from steward.config.schema import PriceConfig, StewardConfig
from steward.costs.catalog import CATALOG, ListPrice, longest_prefix

if TYPE_CHECKING:
    # Only annotations: routing may one day price its targets without an import cycle.
    from steward.routing.targets import Target
    from steward.wire.openai import TokenUsage

__all__ = ["FREE", "Price", "Pricing"]

PER_MTOK = 1_000_000
MEMO_LIMIT = 4096
"""Targets come from config, so the memo stays small; the cap only bounds a misuse."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of each kind."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float
    reasoning_per_mtok: float

    @classmethod
    def from_config(cls, config: PriceConfig) -> Price:
        cached = config.cached_input_per_mtok
        reasoning = config.reasoning_per_mtok
        return cls(
            config.input_per_mtok,
            config.output_per_mtok,
            config.input_per_mtok if cached is None else cached,
            config.output_per_mtok if reasoning is None else reasoning,
        )

    @classmethod
    def from_list(cls, listed: ListPrice) -> Price:
        cached = listed.input if listed.cached_input is None else listed.cached_input
        return cls(listed.input, listed.output, cached, listed.output)

    def cost_usd(self, usage: TokenUsage) -> float:
        """Cached tokens are a subset of input and reasoning a subset of output: each token is
        billed once, at the rate of its kind, even when a provider reports more cached tokens
        than input tokens."""
        input_tokens = usage.input_tokens
        output_tokens = usage.output_tokens
        cached = min(usage.cached_input_tokens, input_tokens)
        reasoning = min(usage.reasoning_tokens, output_tokens)
        total = (
            (input_tokens - cached) * self.input_per_mtok
            + cached * self.cached_input_per_mtok
            + (output_tokens - reasoning) * self.output_per_mtok
            + reasoning * self.reasoning_per_mtok
        )
        return round(total / PER_MTOK, 9)

    def worst_case_usd(self, input_tokens: int, max_output_tokens: int) -> float:
        """No cache discount, and every output token at the dearer of output and reasoning."""
        output_rate = max(self.output_per_mtok, self.reasoning_per_mtok)
        total = input_tokens * self.input_per_mtok + max_output_tokens * output_rate
        return round(total / PER_MTOK, 9)


FREE = Price(0.0, 0.0, 0.0, 0.0)


class Pricing:
    """Looks up a target's price once and remembers it.

    Precedence: config key `provider/model`, then config key equal to the upstream model name,
    then (except for local providers, which are free) the longest known prefix of the model name
    over the catalog merged with the config keys, config winning a tie."""

    def __init__(
        self, configured: Mapping[str, PriceConfig], provider_types: Mapping[str, str]
    ) -> None:
        self._exact = {key: Price.from_config(price) for key, price in configured.items()}
        self._local = frozenset(name for name, kind in provider_types.items() if kind == "local")
        table = {name: Price.from_list(listed) for name, listed in CATALOG.items()}
        table.update({key.lower(): price for key, price in self._exact.items()})
        self._table = table
        self._memo: dict[Target, Price | None] = {}

    @classmethod
    def from_config(cls, config: StewardConfig) -> Pricing:
        types = {name: provider.type for name, provider in config.providers.items()}
        return cls(config.pricing, types)

    def price(self, target: Target) -> Price | None:
        try:
            return self._memo[target]
        except KeyError:
            pass
        price = self._resolve(target)
        if len(self._memo) < MEMO_LIMIT:
            self._memo[target] = price
        return price

    def cost_usd(self, target: Target, usage: TokenUsage) -> float | None:
        """What the call cost, or None when the target has no price."""
        price = self.price(target)
        return None if price is None else price.cost_usd(usage)

    def worst_case_usd(self, target: Target, input_tokens: int, max_output_tokens: int) -> float:
        """The most the call can cost, to reserve against a budget; 0 for an unpriced target."""
        price = self.price(target)
        return 0.0 if price is None else price.worst_case_usd(input_tokens, max_output_tokens)

    def unpriced(self, targets: Iterable[Target]) -> list[str]:
        """`provider/model` of each target with no price, sorted, for a startup warning."""
        return sorted({str(t) for t in targets if self.price(t) is None})

    def _resolve(self, target: Target) -> Price | None:
        exact = self._exact.get(str(target))
        if exact is None:
            exact = self._exact.get(target.model)
        if exact is not None:
            return exact
        if target.provider in self._local:
            return FREE
        return longest_prefix(self._table, target.model)
