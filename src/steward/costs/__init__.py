"""Costs: the price table, what a call cost or may cost, and prompt-token estimates."""

from __future__ import annotations

from steward.costs.catalog import CATALOG, ListPrice
from steward.costs.pricing import FREE, Price, Pricing
from steward.costs.tokens import estimate_input_tokens, max_output_tokens

__all__ = [
    "CATALOG",
    "FREE",
    "ListPrice",
    "Price",
    "Pricing",
    "estimate_input_tokens",
    "max_output_tokens",
]
