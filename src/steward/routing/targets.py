"""Targets (`provider/model`) and the table of public models that map to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from steward.config.schema import ModelConfig, TargetConfig
from steward.errors import UnknownModelError
from steward.providers.base import Provider


@dataclass(frozen=True, slots=True)
class Target:
    """A provider and its model name; equal and hashed by those two only."""

    provider: str
    model: str
    weight: float = field(default=1.0, compare=False)
    tier: str | None = field(default=None, compare=False)
    context_window: int | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> Target:
        provider, _, model = text.partition("/")
        return cls(provider=provider, model=model)

    @classmethod
    def from_config(cls, entry: TargetConfig) -> Target:
        provider, _, model = entry.target.partition("/")
        return cls(provider, model, entry.weight, entry.tier, entry.context_window)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    targets: tuple[Target, ...]
    policy: ModelConfig | None = None
    """Strategy, retries, deadlines, hedging and cache settings; None means the defaults."""

    @classmethod
    def from_config(cls, name: str, config: ModelConfig) -> ModelRoute:
        return cls(name, tuple(Target.from_config(t) for t in config.targets), config)


class ModelTable:
    """Public model name -> ordered targets, and the providers that serve them."""

    def __init__(self, routes: Sequence[ModelRoute], providers: Mapping[str, Provider]) -> None:
        self._routes = {route.name: route for route in routes}
        self._providers = dict(providers)

    def names(self) -> list[str]:
        return sorted(self._routes)

    def resolve(self, name: str) -> ModelRoute:
        route = self._routes.get(name)
        if route is None:
            known = ", ".join(self.names()) or "none configured"
            raise UnknownModelError(
                f"The model '{name}' does not exist on this gateway; use one of: {known} "
                "(GET /v1/models lists them).",
                param="model",
            )
        return route

    def provider(self, target: Target) -> Provider:
        return self._providers[target.provider]

    def available(self, name: str) -> bool:
        route = self._routes[name]
        return any(self._providers[t.provider].available() is None for t in route.targets)
