"""The confidence formula and its signals."""

from __future__ import annotations

import math

import pytest

from steward.guards.output.confidence import (
    Signals,
    agreement,
    confidence,
    token_logprobs,
    token_probability,
)


def test_a_clean_answer_without_signals_scores_one() -> None:
    assert confidence(Signals()) == 1.0


def test_signals_combine_by_geometric_mean_and_factors() -> None:
    both = Signals(token_probability=0.81, agreement=1.0)
    assert confidence(both) == pytest.approx(0.9)
    assert confidence(Signals(schema="repaired")) == pytest.approx(0.85)
    assert confidence(Signals(schema="reasked", refusal=True)) == pytest.approx(0.21)
    assert confidence(Signals(token_probability=0.8, leak=True)) == pytest.approx(0.4)
    assert confidence(Signals(schema="invalid")) == 0.0


def test_token_probability_is_the_geometric_mean_of_token_probabilities() -> None:
    body = {"choices": [{"logprobs": {"content": [{"logprob": math.log(0.5)}, {"logprob": 0.0}]}}]}
    logprobs = token_logprobs(body)
    assert token_probability(logprobs) == pytest.approx(math.sqrt(0.5))
    assert token_probability([]) is None
    assert token_logprobs({"choices": [{"logprobs": None}]}) == []


def test_agreement_compares_normalised_answers() -> None:
    assert agreement('{"b": 1, "a": 2}', ['{"a":2,"b":1}', '{"a": 3}']) == 0.5
    assert agreement("Paris.", ["paris", "  PARIS ", "Lyon"]) == pytest.approx(2 / 3)
    assert agreement("x", []) is None
