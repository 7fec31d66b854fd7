"""Number extraction and the numeric scorer's tolerances."""

from __future__ import annotations

import pytest
from tests.unit.evals.scorers.scoring import grade

from steward.evals.scorers import NumericScorer, Tolerance, extract_number
from steward.evals.scorers.numeric import parse_tolerance


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1,234.5", 1234.5),
        ("The total is 1,234,567 units", 1234567.0),
        ("-3", -3.0),
        ("it fell to \u22123 degrees", -3.0),
        ("2e-3", 0.002),
        ("x = -2.5E+2", -250.0),
        ("$12", 12.0),
        ("-$12.50 refunded", -12.5),
        ("$ 7", 7.0),
        ("about .5 of it", 0.5),
        ("+4", 4.0),
        ("item-3 weighs 5 kg", 3.0),  # a hyphen between word and digits is not a sign
        ("3-5 days", 3.0),
        ("12,5", 12.0),  # not a thousands group: the first number is 12
        ("1,2345", 1.0),
        ("3 eggs", 3.0),
        ("The answer is 42.", 42.0),
        ("**Answer:** 7", 7.0),
    ],
)
def test_extract_number(text: str, number: float) -> None:
    assert extract_number(text) == pytest.approx(number, rel=1e-12)


@pytest.mark.parametrize("text", ["", "no digits here", "minus - and e"])
def test_extract_number_none(text: str) -> None:
    assert extract_number(text) is None


@pytest.mark.parametrize(
    ("argument", "tolerance"),
    [
        (None, Tolerance()),
        ("0.01", Tolerance(0.01)),
        ("1%", Tolerance(0.01, relative=True)),
        (" 2.5 % ", Tolerance(0.025, relative=True)),
    ],
)
def test_parse_tolerance(argument: str | None, tolerance: Tolerance) -> None:
    assert parse_tolerance(argument) == tolerance


@pytest.mark.parametrize("argument", ["abc", "-1", "inf", "%"])
def test_parse_tolerance_rejects(argument: str) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        parse_tolerance(argument)


def test_exact_by_default() -> None:
    assert grade(NumericScorer(), "The answer is 42.", expected=42).passed is True
    failed = grade(NumericScorer(), "The answer is 43.", expected=42)
    assert (failed.value, failed.passed) == (0.0, False)
    assert failed.detail == "got 43, expected 42 (tolerance 0)"


def test_absolute_tolerance_includes_its_bound() -> None:
    scorer = NumericScorer(tolerance=Tolerance(0.1))

    assert grade(scorer, "1.1", expected=1.0).passed is True  # 1.1 - 1.0 > 0.1 in binary
    assert grade(scorer, "0.9", expected=1.0).passed is True
    assert grade(scorer, "1.11", expected=1.0).passed is False


def test_relative_tolerance_scales_with_expected() -> None:
    scorer = NumericScorer(tolerance=Tolerance(0.01, relative=True))

    passed = grade(scorer, "about $1,009", expected=1000)
    failed = grade(scorer, "about $1,011", expected=1000)

    assert (passed.value, passed.passed) == (1.0, True)
    assert failed.passed is False
    assert failed.detail == "got 1011, expected 1000 (tolerance 1%)"


def test_expected_may_be_text_holding_a_number() -> None:
    assert grade(NumericScorer(), "1234", expected="1,234").passed is True


@pytest.mark.parametrize(
    ("output", "expected", "detail"),
    [
        ("no number", 3, "no number in the output"),
        ("3", "three", "expected 'three' is not a number"),
        ("1", True, "expected True is not a number"),
        ("3", None, "item 'item-1' has no expected output"),
    ],
)
def test_failures_say_why(output: str, expected: object, detail: str) -> None:
    score = grade(NumericScorer(), output, expected=expected)

    assert (score.value, score.passed, score.detail) == (0.0, False, detail)
