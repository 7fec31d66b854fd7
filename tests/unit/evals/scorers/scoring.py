"""Running a scorer from synchronous tests."""

from __future__ import annotations

import asyncio
from typing import Any

from steward.evals.results import Item, Score
from steward.evals.scorers import Scorer

__all__ = ["grade"]


def grade(scorer: Scorer, output: str, expected: Any = None, **item: Any) -> Score:
    """`scorer`'s verdict on `output` for an item expecting `expected`."""
    return asyncio.run(scorer.score(output, Item(id="item-1", expected=expected, **item)))
