"""The shipped price table (USD per million tokens) and longest-prefix lookup of model ids."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, TypeVar

__all__ = ["CATALOG", "ListPrice", "longest_prefix"]

T = TypeVar("T")

SEPARATORS = ("-", "@", ":")
"""Where a dated or versioned id may extend a known name: `gpt-4o-mini-2024-07-18`,
`claude-3-5-sonnet@20240620` (Vertex), `model:tag`. A known name only matches at one of these
boundaries, so `gpt-4.5-preview` does not take the price of `gpt-4`."""


class ListPrice(NamedTuple):
    """USD per million tokens; `cached_input` is None when the model has no cache discount."""

    input: float
    output: float
    cached_input: float | None = None


# List prices (standard tier, no batch or priority) as of 2026-12-02. They change: override any
# of them, or price a model missing here, under [pricing] in steward.toml.
# OpenAI: developers.openai.com/api/docs/pricing and the per-model pages under /api/docs/models.
# Anthropic: platform.claude.com/docs/en/about-claude/pricing ("cache hits" = cached_input, 0.1x
# input). Anthropic's cache writes (1.25x input) and long-context (>200k) rates are not modelled:
# Steward bills cache writes at the input price. A dated snapshot priced unlike its base model is
# listed on its own (longest prefix wins).
_OPENAI: dict[str, ListPrice] = {
    "gpt-5": ListPrice(1.25, 10.00, 0.125),
    "gpt-5.1": ListPrice(1.25, 10.00, 0.125),
    "gpt-5-mini": ListPrice(0.25, 2.00, 0.025),
    "gpt-5-nano": ListPrice(0.05, 0.40, 0.005),
    "gpt-5-pro": ListPrice(15.00, 120.00),
    "gpt-4.1": ListPrice(2.00, 8.00, 0.50),
    "gpt-4.1-mini": ListPrice(0.40, 1.60, 0.10),
    "gpt-4.1-nano": ListPrice(0.10, 0.40, 0.025),
    "gpt-4o": ListPrice(2.50, 10.00, 1.25),
    "gpt-4o-2024-05-13": ListPrice(5.00, 15.00),
    "gpt-4o-mini": ListPrice(0.15, 0.60, 0.075),
    "gpt-4-turbo": ListPrice(10.00, 30.00),
    "gpt-3.5-turbo": ListPrice(0.50, 1.50),
    "o1": ListPrice(15.00, 60.00, 7.50),
    "o1-mini": ListPrice(1.10, 4.40, 0.55),
    "o1-pro": ListPrice(150.00, 600.00),
    "o3": ListPrice(2.00, 8.00, 0.50),
    "o3-mini": ListPrice(1.10, 4.40, 0.55),
    "o3-pro": ListPrice(20.00, 80.00),
    "o4-mini": ListPrice(1.10, 4.40, 0.275),
    "text-embedding-3-small": ListPrice(0.02, 0.0),
    "text-embedding-3-large": ListPrice(0.13, 0.0),
    "text-embedding-ada-002": ListPrice(0.10, 0.0),
}

_ANTHROPIC: dict[str, ListPrice] = {
    "claude-3-haiku": ListPrice(0.25, 1.25, 0.03),
    "claude-3-opus": ListPrice(15.00, 75.00, 1.50),
    "claude-3-5-haiku": ListPrice(0.80, 4.00, 0.08),
    "claude-3-5-sonnet": ListPrice(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": ListPrice(3.00, 15.00, 0.30),
    "claude-sonnet-4": ListPrice(3.00, 15.00, 0.30),
    "claude-sonnet-4-5": ListPrice(3.00, 15.00, 0.30),
    "claude-sonnet-4-6": ListPrice(3.00, 15.00, 0.30),
    "claude-opus-4": ListPrice(15.00, 75.00, 1.50),
    "claude-opus-4-1": ListPrice(15.00, 75.00, 1.50),
    "claude-opus-4-5": ListPrice(5.00, 25.00, 0.50),
    "claude-opus-4-6": ListPrice(5.00, 25.00, 0.50),
    "claude-haiku-4-5": ListPrice(1.00, 5.00, 0.10),
}

CATALOG: Mapping[str, ListPrice] = MappingProxyType({**_OPENAI, **_ANTHROPIC})


def longest_prefix(table: Mapping[str, T], model: str) -> T | None:
    """The entry for the longest known name that `model` equals or extends at a separator.

    An id routed through an aggregator (`openai/gpt-4o`) is also tried without its vendor part.
    Walks the separators right to left: a handful of dict lookups, no regex."""
    name = model.lower()
    found = _at_boundaries(table, name)
    vendor, slash, bare = name.rpartition("/")
    if found is None and slash and vendor:
        found = _at_boundaries(table, bare)
    return found


def _at_boundaries(table: Mapping[str, T], name: str) -> T | None:
    end = len(name)
    while end > 0:
        found = table.get(name[:end])
        if found is not None:
            return found
        end = max(name.rfind(sep, 0, end) for sep in SEPARATORS)
    return None
