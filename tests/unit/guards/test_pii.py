"""The PII guard on real Presidio and spaCy's bundled model: entities found, actions applied,
pseudonyms restored (streams too), and nothing fetched from the network."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from steward.config.guards_pii import PIIGuardConfig
from steward.guards.base import GuardInput
from steward.guards.pii import PIIGuard, PseudonymRestorer
from steward.guards.pii.engine import AVAILABLE, PIIEngine
from steward.guards.pii.restore import restore_text

needs_presidio = pytest.mark.skipif(
    not AVAILABLE and os.environ.get("STEWARD_REQUIRE_SERVICES") != "1",
    reason="Presidio and the spaCy model install on Python 3.12+ (make install picks it)",
)


@pytest.fixture(scope="module")
def engine() -> Iterator[PIIEngine]:
    calls: list[tuple[object, ...]] = []

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event in ("socket.connect", "socket.getaddrinfo"):
            calls.append(args)

    sys.addaudithook(audit)  # hooks cannot be removed; this one only appends to a list
    built = PIIEngine()
    built.load()
    built.analyze("Write to ada@example.com", ["EMAIL_ADDRESS"], 0.5)
    yield built
    outside = [c for c in calls if "127.0.0.1" not in repr(c) and "localhost" not in repr(c)]
    assert not outside, f"the PII engine reached for the network: {outside}"


def run(guard: PIIGuard, *texts: str) -> object:
    inputs = [GuardInput(i, "user", text) for i, text in enumerate(texts)]
    return asyncio.run(guard.check(inputs))


@needs_presidio
@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        (
            "Email me at maria.gonzalez@example.org please",
            "EMAIL_ADDRESS",
            "maria.gonzalez@example.org",
        ),
        ("Call me on +1 415 555 0199 tomorrow", "PHONE_NUMBER", "+1 415 555 0199"),
        ("My card is 4111 1111 1111 1111", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("Pay to GB82 WEST 1234 5698 7654 32 today", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("My SSN is 536-90-4399.", "US_SSN", "536-90-4399"),
        ("Please ask Maria Gonzalez about it", "PERSON", "Maria Gonzalez"),
    ],
)
def test_entities_are_found(engine: PIIEngine, text: str, entity: str, value: str) -> None:
    findings = engine.analyze(text, [entity], 0.4)
    assert [(f.entity, text[f.start : f.end]) for f in findings] == [(entity, value)]


@needs_presidio
def test_the_phone_recognizer_skips_only_texts_too_short_of_digits_to_hold_a_number(
    engine: PIIEngine,
) -> None:
    import phonenumbers

    recognizers = engine.load(ner=False).registry.recognizers
    [phone] = [r for r in recognizers if type(r).__name__ == "DigitGatedPhoneRecognizer"]
    lengths = [
        min(phonenumbers.PhoneMetadata.metadata_for_region(r).general_desc.possible_length)
        for r in phone.supported_regions
    ]
    assert phone.min_digits == min(lengths) == 4
    # The shortest number it can find has that many digits, so the gate loses nothing.
    assert [f.entity for f in engine.analyze("Ring +49 30 12345 now", ["PHONE_NUMBER"], 0.35)]
    assert phone.analyze("Call three-one-two, room 12 or 7.", ["PHONE_NUMBER"]) == []


@needs_presidio
def test_pseudonymise_mask_and_block(engine: PIIEngine) -> None:
    config = PIIGuardConfig(entities={"PERSON": "pseudonymise", "EMAIL_ADDRESS": "mask"})
    verdict = run(
        PIIGuard(config, engine),
        "I am Maria Gonzalez, mail maria@example.org",
        "Maria Gonzalez again, and John Smith",
    )
    assert verdict.decision.action == "pseudonymise"  # type: ignore[attr-defined]
    assert verdict.replacements == {  # type: ignore[attr-defined]
        0: "I am <PERSON_1>, mail <EMAIL_ADDRESS>",
        1: "<PERSON_1> again, and <PERSON_2>",
    }
    assert verdict.pseudonyms == {"<PERSON_1>": "Maria Gonzalez", "<PERSON_2>": "John Smith"}  # type: ignore[attr-defined]
    blocked = run(PIIGuard(PIIGuardConfig(), engine), "card 4111 1111 1111 1111")
    assert blocked.decision.action == "block"  # type: ignore[attr-defined]
    message = blocked.message or ""  # type: ignore[attr-defined]
    assert "payment card number" in message and "4111" not in message
    clean = run(PIIGuard(PIIGuardConfig(), engine), "What are your opening hours?")
    assert clean.decision.action == "allow"  # type: ignore[attr-defined]


@needs_presidio
def test_pattern_entities_alone_never_load_spacys_model() -> None:
    engine = PIIEngine()
    text = "mail maria@example.org, card 4111 1111 1111 1111, call 212-555-0199"
    found = engine.analyze(text, ["EMAIL_ADDRESS", "CREDIT_CARD", "PHONE_NUMBER"], 0.35)
    assert [f.entity for f in found] == ["EMAIL_ADDRESS", "CREDIT_CARD", "PHONE_NUMBER"]
    assert not engine.ner_loaded


def test_restore_whole_text_and_split_stream() -> None:
    pseudonyms = {"<PERSON_1>": "Maria Gonzalez", "<EMAIL_ADDRESS_1>": "m@example.org"}
    assert restore_text("Hi <PERSON_1>, see <EMAIL_ADDRESS_1>.", pseudonyms) == (
        "Hi Maria Gonzalez, see m@example.org."
    )
    assert restore_text("a < b and <UNKNOWN_9>", pseudonyms) == "a < b and <UNKNOWN_9>"
    for chunks in (
        ["Hi <PER", "SON_", "1>, bye"],
        ["Hi <", "PERSON_1", ">", ", bye"],
        ["Hi <PERSON_1>, bye"],
        ["H", "i", " ", "<", "P", "E", "R", "S", "O", "N", "_", "1", ">", ",", " bye"],
    ):
        restorer = PseudonymRestorer(pseudonyms)
        out = "".join(restorer.feed(c) for c in chunks) + restorer.flush()
        assert out == "Hi Maria Gonzalez, bye", chunks
    restorer = PseudonymRestorer(pseudonyms)
    assert restorer.feed("x < 3 and") == "x < 3 and"  # not a placeholder: nothing held
    assert restorer.feed(" <PERS") == " "
    assert restorer.flush() == "<PERS"


def test_unknown_entities_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown entity type"):
        PIIGuardConfig(entities={"SHOE_SIZE": "mask"})  # type: ignore[dict-item]


def test_no_socket_use_is_possible_to_observe() -> None:
    # The audit hook above relies on CPython raising these events; make sure it does here.
    seen: list[str] = []
    sys.addaudithook(
        lambda event, args: seen.append(event) if event == "socket.getaddrinfo" else None
    )
    socket.getaddrinfo("127.0.0.1", 80)
    assert "socket.getaddrinfo" in seen
