"""The pattern redactor: what it finds, what it leaves alone, and that it stays linear."""

from __future__ import annotations

import itertools
import time

import pytest

from steward.observe.redact import (
    PatternRedactor,
    Redactor,
    iban_valid,
    luhn_valid,
    redact_json,
)

REDACTOR = PatternRedactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john.doe+news@example.co.uk today", "mail <EMAIL> today"),
        ("a@b.io", "<EMAIL>"),
        ("card 4111 1111 1111 1111 please", "card <CREDIT_CARD> please"),
        ("card 4111-1111-1111-1111", "card <CREDIT_CARD>"),
        ("amex 378282246310005.", "amex <CREDIT_CARD>."),
        ("IBAN DE89 3704 0044 0532 0130 00, thanks", "IBAN <IBAN>, thanks"),
        ("GB82WEST12345698765432", "<IBAN>"),
        ("from 192.168.1.20 and 10.0.0.1.", "from <IP_ADDRESS> and <IP_ADDRESS>."),
        (
            "v6 2001:db8::ff00:42:8329 or ::1 or fe80::1",
            "v6 <IP_ADDRESS> or <IP_ADDRESS> or <IP_ADDRESS>",
        ),
        ("key sk-proj-abcdefghijklmnopqrstuvwx", "key <API_KEY>"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "<API_KEY>"),
        ("ghp_" + "a1B2c3D4e5F6" * 3, "<API_KEY>"),
        ("ghp_" + "a" * 36, "ghp_" + "a" * 36),  # a placeholder, not a token
        ("stripe sk_live_abcdefghijklmnop1234", "stripe <API_KEY>"),
        ("Authorization: Bearer abcdefghijklmnop1234", "Authorization: Bearer <API_KEY>"),
        ("id AKIAIOSFODNN7EXAMPLE", "id <AWS_KEY>"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = <AWS_KEY>",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt <JWT>",
        ),
        ("call +1 (555) 123-4567 now", "call <PHONE> now"),
        ("or 555-123-4567, or +44 7911 123456", "or <PHONE>, or <PHONE>"),
        ("+4915112345678", "<PHONE>"),
    ],
)
def test_finds_and_replaces(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-01-15 at 10:30:00, order 12345, version 1.2.3",
        "card 4111 1111 1111 1112 fails the Luhn check",
        "IBAN DE89 3704 0044 0532 0130 01 fails mod 97",
        "std::vector and Foo::Bar are code, not addresses",
        "999.1.1.1 is no IPv4 address",
        "a plain sentence about sk-short and eyJ",
        "user@localhost has no top-level domain",
        "",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert REDACTOR.redact(text) == text


def test_validators() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("0" * 12)  # too short for a card
    assert iban_valid("FR14 2004 1010 0505 0001 3M02 606")
    assert not iban_valid("FR15 2004 1010 0505 0001 3M02 606")


def test_a_secret_is_not_also_read_as_something_else() -> None:
    text = "token eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFAYi5pbyJ9. and mail x@y.org"
    assert REDACTOR.redact(text) == "token <JWT> and mail <EMAIL>"
    spans = REDACTOR.find(text)
    assert [s.label for s in spans] == ["JWT", "EMAIL"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_redact_json_walks_strings_but_not_keys_or_numbers() -> None:
    value = {
        "model": "gpt",
        "messages": [{"role": "user", "content": "I am ann@example.com, card 4111111111111111"}],
        "max_tokens": 4111111111111111,
        "ann@example.com": True,
        "tools": None,
    }
    assert redact_json(value, REDACTOR) == {
        "model": "gpt",
        "messages": [{"role": "user", "content": "I am <EMAIL>, card <CREDIT_CARD>"}],
        "max_tokens": 4111111111111111,
        "ann@example.com": True,
        "tools": None,
    }


def test_any_object_with_redact_is_a_redactor() -> None:
    class Shouting:
        def redact(self, text: str) -> str:
            return text.upper()

    shouting: Redactor = Shouting()
    assert redact_json({"a": ["b", 1]}, shouting) == {"a": ["B", 1]}


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000, "1" * 100_000, "a@" + "b" * 100_000, "1." * 50_000, "sk-" + "-" * 100_000],
)
def test_long_adversarial_input_stays_fast(text: str) -> None:
    started = time.perf_counter()
    REDACTOR.redact(text)
    assert time.perf_counter() - started < 2.0
