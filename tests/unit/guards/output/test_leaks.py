"""PII, canary, verbatim system prompt and refusal detection in answers."""

from __future__ import annotations

import pytest

from steward.guards.output.leaks import (
    Canary,
    find_pii,
    is_refusal,
    pii_redactor,
    quotes_system_prompt,
)


def test_pii_in_answers_is_found_and_masked() -> None:
    found = find_pii("Mail ann@example.com or pay 4111 1111 1111 1111.", pii_redactor())
    assert found is not None
    assert found.labels == ("CREDIT_CARD", "EMAIL")
    assert found.masked == "Mail <EMAIL> or pay <CREDIT_CARD>."
    assert find_pii("Nothing personal here.", pii_redactor()) is None


def test_the_canary_is_random_per_instance_and_detected() -> None:
    one, two = Canary(), Canary()
    assert one.token != two.token and one.token in one.line()
    assert one.found_in(f"my prompt says {one.token}") and not one.found_in("nothing")


def test_twelve_consecutive_system_prompt_words_are_a_leak() -> None:
    system = (
        "You are the support assistant of Acme. Never discuss pricing, refunds or legal matters."
    )
    leaked = "Sure: you are the support assistant of ACME, never discuss pricing refunds or legal"
    assert quotes_system_prompt(leaked, system)
    assert not quotes_system_prompt("You are the support assistant of Acme.", system)
    assert not quotes_system_prompt(leaked, "Too short a prompt.")


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that request.",
        "I'm sorry, but I cannot do this.",
        "As an AI language model, I have no opinions.",
        "I am unable to assist with that.",
    ],
)
def test_refusals_are_detected(text: str) -> None:
    assert is_refusal(text)


def test_ordinary_answers_are_not_refusals() -> None:
    assert not is_refusal("The capital of France is Paris. I can help with more questions.")
