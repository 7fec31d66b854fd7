"""A scorer in user code, loaded by `py:` specs and by an entry point in the registry tests."""

from __future__ import annotations

from dataclasses import dataclass

from steward.evals.results import Item, Score

__all__ = ["LengthScorer", "length", "not_a_factory", "refusing"]


@dataclass(frozen=True, slots=True)
class LengthScorer:
    """Passes when the output is at most `limit` characters long."""

    limit: int
    name: str = "length"

    async def score(self, output: str, item: Item) -> Score:
        ok = len(output) <= self.limit
        return Score(value=1.0 if ok else 0.0, passed=ok, detail=f"{len(output)} characters")


def length(argument: str | None) -> LengthScorer:
    limit = 10 if argument is None else int(argument)
    return LengthScorer(limit=limit, name=f"length:{limit}")


def refusing(argument: str | None) -> LengthScorer:
    raise ValueError(f"refusing {argument!r}")


not_a_factory = 42
