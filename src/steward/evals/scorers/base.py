"""The scorer contract: the `Scorer` Protocol, the plugin factory shape, and expected-value reading."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol, TypeAlias

from steward.evals.results import Item, Score

__all__ = ["Scorer", "ScorerFactory", "expected_text", "no_expected"]


class Scorer(Protocol):
    """Judges one model output for one dataset item.

    `name` keys the score in a run's results, so two scorers of one run never share it. Built-in
    scorers return a value in [0, 1] and always set `passed`.
    """

    @property
    def name(self) -> str:
        """Read-only, so a frozen dataclass's field or a plain attribute both satisfy it."""
        ...

    async def score(self, output: str, item: Item) -> Score: ...


ScorerFactory: TypeAlias = Callable[[str | None], Scorer]
"""What a plugin provides: the spec's argument (the text after `name:`, or None) to a scorer."""


def expected_text(item: Item) -> str | None:
    """`item.expected` as text: a string as it is, anything else as compact JSON, None if unset."""
    if item.expected is None:
        return None
    if isinstance(item.expected, str):
        return item.expected
    return json.dumps(item.expected, ensure_ascii=False)


def no_expected(item: Item) -> Score:
    """The verdict of a scorer that needs `item.expected` on an item that has none."""
    return Score(value=0.0, passed=False, detail=f"item {item.id!r} has no expected output")
