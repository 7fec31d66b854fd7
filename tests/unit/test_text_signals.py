"""The response-text heuristics behind drift: refusals, languages and how mixes differ."""

from __future__ import annotations

import pytest

from steward.observe.stored_payloads import response_text
from steward.observe.text_signals import is_refusal, language, language_mix, total_variation


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I\u2019m unable to share that information.",
        "As an AI, I don't have opinions.",
        "Unfortunately I cannot assist with this request.",
    ],
)
def test_refusals(text: str) -> None:
    assert is_refusal(text)


def test_answers_are_not_refusals() -> None:
    assert not is_refusal("Sure! Restart the service and the error goes away.")
    # Only the opening counts: an answer that quotes a refusal much later is an answer.
    assert not is_refusal("Here is the log. " + "x" * 400 + " I can't help it.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is that you should restart it.", "en"),
        ("El servidor de la casa no funciona para los usuarios.", "es"),
        ("Le chat est dans la maison pour vous.", "fr"),
        ("Der Hund ist nicht mit den Katzen und ich.", "de"),
        ("Привет, как дела?", "cyrillic"),
        ("こんにちは、元気ですか", "ja"),
        ("東京は日本の首都です", "ja"),
        ("你好我很好", "zh"),
        ("안녕하세요", "ko"),
        ("مرحبا بك", "ar"),
        ("Lorem ipsum dolor sit amet", "latin"),
        ("12345 !!", "none"),
    ],
)
def test_languages(text: str, expected: str) -> None:
    assert language(text) == expected


def test_language_mix_and_total_variation() -> None:
    mix = language_mix(["The cat is here.", "The dog is out.", "Le chat est dans la maison."])
    assert mix == {"en": pytest.approx(2 / 3), "fr": pytest.approx(1 / 3)}
    assert language_mix([]) == {}
    assert total_variation({"en": 1.0}, {"en": 1.0}) == 0.0
    assert total_variation({"en": 1.0}, {"fr": 1.0}) == 1.0
    assert total_variation({"en": 1.0}, {"en": 0.5, "fr": 0.5}) == pytest.approx(0.5)


def test_response_text_reads_the_first_choice() -> None:
    message = {"role": "assistant", "content": "hello"}
    assert response_text({"response": {"choices": [{"message": message}]}}) == "hello"
    assert response_text({"response": None, "error": {"type": "x"}}) is None
    tool_call = {"role": "assistant", "content": None, "tool_calls": []}
    assert response_text({"response": {"choices": [{"message": tool_call}]}}) is None
