"""exact, contains and regex scorers."""

from __future__ import annotations

import re

import pytest
from tests.unit.evals.scorers.scoring import grade

from steward.evals.scorers import ContainsScorer, ExactScorer, RegexScorer


def test_exact_passes_on_equal_text_ignoring_surrounding_whitespace() -> None:
    score = grade(ExactScorer(), "  Paris\n", expected="Paris")

    assert (score.value, score.passed) == (1.0, True)


def test_exact_fails_on_different_text_and_shows_both() -> None:
    score = grade(ExactScorer(), "paris", expected="Paris")

    assert (score.value, score.passed) == (0.0, False)
    assert score.detail == "'paris' != 'Paris'"


def test_exact_ci_ignores_case() -> None:
    assert grade(ExactScorer(ignore_case=True), "PARIS", expected="paris").passed is True
    assert grade(ExactScorer(ignore_case=True), "Lyon", expected="paris").passed is False


def test_exact_compares_non_text_expected_as_json() -> None:
    assert grade(ExactScorer(), "42", expected=42).passed is True
    assert grade(ExactScorer(), "true", expected=True).passed is True


def test_exact_without_expected_fails_and_says_so() -> None:
    score = grade(ExactScorer(), "anything")

    assert score.passed is False
    assert score.detail == "item 'item-1' has no expected output"


def test_contains_one_substring() -> None:
    assert grade(ContainsScorer(), "The capital is Paris.", expected="Paris").passed is True
    failed = grade(ContainsScorer(), "The capital is Lyon.", expected="Paris")
    assert (failed.value, failed.passed, failed.detail) == (0.0, False, "missing 'Paris'")


def test_contains_list_needs_all_and_scores_the_fraction_found() -> None:
    expected = ["alpha", "beta", "gamma", "delta"]

    partial = grade(ContainsScorer(), "alpha and gamma", expected=expected)
    full = grade(ContainsScorer(), "alpha beta gamma delta", expected=expected)

    assert (partial.value, partial.passed) == (0.5, False)
    assert partial.detail == "missing 'beta', 'delta'"
    assert (full.value, full.passed) == (1.0, True)


def test_contains_argument_overrides_expected_and_ci_ignores_case() -> None:
    assert grade(ContainsScorer(needle="refund"), "A refund is due", expected="x").passed is True
    assert grade(ContainsScorer(needle="REFUND", ignore_case=True), "a refund").passed is True
    assert grade(ContainsScorer(needle="REFUND"), "a refund").passed is False


def test_regex_from_the_spec() -> None:
    scorer = RegexScorer(pattern=re.compile(r"^\d+$"))

    passed = grade(scorer, "12345")
    failed = grade(scorer, "12 345")

    assert (passed.passed, passed.detail) == (True, "matched '12345'")
    assert failed.passed is False
    assert failed.detail == r"no match for /^\d+$/ in '12 345'"


def test_regex_from_expected_when_the_spec_has_none() -> None:
    assert grade(RegexScorer(), "order #A-1234 shipped", expected=r"#[A-Z]-\d{4}").passed is True
    assert grade(RegexScorer(), "order shipped", expected=r"#[A-Z]-\d{4}").passed is False


@pytest.mark.parametrize("pattern", ["(unclosed", "*x"])
def test_regex_invalid_expected_pattern_fails_the_item_not_the_run(pattern: str) -> None:
    score = grade(RegexScorer(), "text", expected=pattern)

    assert score.passed is False
    assert score.detail is not None
    assert score.detail.startswith("expected pattern invalid:")
