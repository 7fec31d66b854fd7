"""Text scorers: exact equality, substring containment and regular expressions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from steward.evals.results import Item, Score
from steward.evals.scorers.base import expected_text, no_expected

__all__ = ["ContainsScorer", "ExactScorer", "RegexScorer"]

_SHOWN_CHARS = 60
"""How much of an output or expected text a detail quotes."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


@dataclass(frozen=True, slots=True)
class ExactScorer:
    """Output equals `item.expected` as text, surrounding whitespace stripped from both."""

    name: str = "exact"
    ignore_case: bool = False

    async def score(self, output: str, item: Item) -> Score:
        expected = expected_text(item)
        if expected is None:
            return no_expected(item)
        got, want = output.strip(), expected.strip()
        if self.ignore_case:
            got, want = got.casefold(), want.casefold()
        if got == want:
            return Score(value=1.0, passed=True)
        return Score(value=0.0, passed=False, detail=f"{_shown(output.strip())} != {_shown(want)}")


@dataclass(frozen=True, slots=True)
class ContainsScorer:
    """Every expected substring appears in the output; value is the fraction that do.

    The substrings are `needle` when the spec gives one (`contains:TEXT`), otherwise
    `item.expected`: one string, or a list of strings that must all appear.
    """

    name: str = "contains"
    needle: str | None = None
    ignore_case: bool = False

    async def score(self, output: str, item: Item) -> Score:
        needles = self._needles(item)
        if not needles:
            return no_expected(item)
        haystack = output.casefold() if self.ignore_case else output
        missing = [n for n in needles if (n.casefold() if self.ignore_case else n) not in haystack]
        value = 1.0 - len(missing) / len(needles)
        if not missing:
            return Score(value=value, passed=True)
        shown = ", ".join(_shown(n) for n in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return Score(value=value, passed=False, detail=f"missing {shown}{more}")

    def _needles(self, item: Item) -> list[str]:
        if self.needle is not None:
            return [self.needle]
        expected = item.expected
        if isinstance(expected, Sequence) and not isinstance(expected, str):
            return [n if isinstance(n, str) else str(n) for n in expected]
        text = expected_text(item)
        return [] if text is None else [text]


@dataclass(frozen=True, slots=True)
class RegexScorer:
    """The output matches a pattern anywhere (`re.search`).

    The pattern is the spec's argument (`regex:^\\d+$`), compiled when the scorer is built, or
    else `item.expected`, compiled per item; an expected pattern that does not compile fails
    that item rather than the run.
    """

    name: str = "regex"
    pattern: re.Pattern[str] | None = None

    async def score(self, output: str, item: Item) -> Score:
        pattern = self.pattern
        if pattern is None:
            source = expected_text(item)
            if source is None:
                return no_expected(item)
            try:
                pattern = re.compile(source)
            except re.error as exc:
                return Score(value=0.0, passed=False, detail=f"expected pattern invalid: {exc}")
        match = pattern.search(output)
        if match is None:
            return Score(
                value=0.0,
                passed=False,
                detail=f"no match for /{pattern.pattern}/ in {_shown(output)}",
            )
        return Score(value=1.0, passed=True, detail=f"matched {_shown(match.group(0))}")
