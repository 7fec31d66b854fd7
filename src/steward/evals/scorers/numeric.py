"""The numeric scorer: the first number in the output, within a tolerance of the expected one."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from steward.evals.results import Item, Score
from steward.evals.scorers.base import no_expected

__all__ = ["NumericScorer", "Tolerance", "extract_number", "parse_tolerance"]

_NUMBER = re.compile(
    r"""
    (?:(?<!\w)(?P<sign>[-+\u2212])\s?)?     # a sign, unless it joins two words (item-3)
    (?:[$€£¥]\s?)?                          # a currency symbol: -$12, $12
    (?P<mantissa>
        \d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?  # thousands separators: 1,234.5
      | \d+(?:\.\d+)?                       # 1234.5, 3
      | \.\d+                               # .5
    )
    (?P<exponent>[eE][-+]?\d+)?             # 2e-3
    """,
    re.VERBOSE,
)


def extract_number(text: str) -> float | None:
    """The first number written in `text`, or None.

    Understands signs (ASCII and U+2212), thousands separators, decimals, exponents and a
    currency symbol before the digits: "1,234.5", "-3", "2e-3", "$12", "-$12".
    """
    match = _NUMBER.search(text)
    if match is None:
        return None
    sign = "-" if match.group("sign") in ("-", "\u2212") else ""
    mantissa = match.group("mantissa").replace(",", "")
    return float(f"{sign}{mantissa}{match.group('exponent') or ''}")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far the output may be from the expected number: absolute, or relative to expected."""

    amount: float = 0.0
    relative: bool = False

    def allows(self, got: float, expected: float) -> bool:
        limit = self.amount * abs(expected) if self.relative else self.amount
        # A few ulps of slack, so that 1.1 is within 0.1 of 1.0 as written.
        return abs(got - expected) <= limit + 4 * math.ulp(max(abs(got), abs(expected)))

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


def parse_tolerance(argument: str | None) -> Tolerance:
    """`0.01` (absolute) or `1%` (relative to expected); None means exact. ValueError if neither."""
    if argument is None or not argument.strip():
        return Tolerance()
    text = argument.strip()
    relative = text.endswith("%")
    try:
        amount = float(text[:-1] if relative else text)
    except ValueError:
        raise ValueError(f"tolerance {argument!r} is not a number such as 0.01 or 1%") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"tolerance {argument!r} must be a finite number >= 0")
    return Tolerance(amount / 100 if relative else amount, relative=relative)


def _expected_number(item: Item) -> float | None:
    expected = item.expected
    if isinstance(expected, bool):
        return None
    if isinstance(expected, int | float):
        return float(expected)
    if isinstance(expected, str):
        return extract_number(expected)
    return None


@dataclass(frozen=True, slots=True)
class NumericScorer:
    """The first number in the output is within `tolerance` of `item.expected`.

    `item.expected` is a number, or text holding one ("1,234"). Value is 1 within tolerance,
    else 0.
    """

    name: str = "numeric"
    tolerance: Tolerance = Tolerance()

    async def score(self, output: str, item: Item) -> Score:
        if item.expected is None:
            return no_expected(item)
        expected = _expected_number(item)
        if expected is None:
            return Score(
                value=0.0, passed=False, detail=f"expected {item.expected!r} is not a number"
            )
        got = extract_number(output)
        if got is None:
            return Score(value=0.0, passed=False, detail="no number in the output")
        difference = f"got {got:.12g}, expected {expected:.12g} (tolerance {self.tolerance})"
        if self.tolerance.allows(got, expected):
            return Score(value=1.0, passed=True, detail=difference)
        return Score(value=0.0, passed=False, detail=difference)
