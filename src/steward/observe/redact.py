"""Redaction of personal data and secrets in captured payloads, behind one small Protocol.

`PatternRedactor` finds spans with regular expressions and a validator per kind (Luhn for card
numbers, ISO 7064 mod 97 for IBANs, `ipaddress` for IPs) and replaces each with its label
(`<EMAIL>`). A model-based redactor (Presidio) can take its place: anything with
`redact(text) -> str` will do. `redact_json` applies a redactor to every string in a JSON value.

Patterns run in order, and a span found by an earlier one is never matched again by a later one,
so a JWT is not also read as an e-mail or a card number as a phone number. Every pattern starts at
a token boundary (a lookbehind), which keeps matching linear on long runs of letters or digits.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DEFAULT_PATTERNS",
    "Pattern",
    "PatternRedactor",
    "Redactor",
    "Span",
    "not_placeholder",
    "redact_json",
]


class Redactor(Protocol):
    """Replaces personal data and secrets in text. Must be thread-safe (it runs on the writer)."""

    def redact(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Pattern:
    """One kind of finding: a regex, the group to replace (0: the whole match), a validator."""

    label: str
    regex: re.Pattern[str]
    group: int = 0
    valid: Callable[[str], bool] | None = None


def luhn_valid(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ipv4_valid(candidate: str) -> bool:
    return all(int(part) <= 255 for part in candidate.split("."))


def ipv6_valid(candidate: str) -> bool:
    # "A::B" (C++, Perl) parses as an address too; a real one nearly always has a digit.
    if not any(c.isdigit() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")


def phone_valid(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not 7 <= digits <= 15 or _DATE.fullmatch(candidate.strip()):
        return False
    return (
        candidate.startswith(("+", "(")) or digits >= 9 or bool(re.search(r"\d[ .-]\d", candidate))
    )


_API_KEY = (
    r"sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_-]{16,}"
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}"
    # Hugging Face, npm, SendGrid, Twilio API key SIDs, DigitalOcean (personal, OAuth, refresh).
    r"|hf_[A-Za-z]{34,}|npm_[A-Za-z0-9]{36}|SG\.[\w-]{22}\.[\w-]{43}|SK[0-9a-f]{32}"
    r"|do[por]_v1_[a-f0-9]{64}"
)


def not_placeholder(candidate: str) -> bool:
    """False for what people write in place of a credential: `sk-xxxxxxxxxxxxxxxx`,
    `********`, `YOUR_ACCESS_TOKEN`, `your-api-key-here`, `example`."""
    if not candidate:
        return False
    most = max(candidate.count(c) for c in set(candidate))
    if most * 2 > len(candidate):  # one character repeated: xxxx, ****, ....
        return False
    if re.fullmatch(r"[A-Z_]+", candidate):  # an environment variable's name, a placeholder
        return False
    if "..." in candidate or "\u2026" in candidate:  # sk-..., elided
        return False
    lowered = candidate.lower()
    return not any(word in lowered for word in _PLACEHOLDER_WORDS)


_PLACEHOLDER_WORDS = ("your", "example", "placeholder", "redacted", "changeme", "xxxxxx")
_IBAN = r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?|[A-Z]{2}\d{2}[A-Z0-9]{11,30}"

DEFAULT_PATTERNS: tuple[Pattern, ...] = (
    Pattern("JWT", re.compile(r"(?<![\w-])eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]*")),
    Pattern("API_KEY", re.compile(rf"(?<![\w-])(?:{_API_KEY})(?![\w-])"), valid=not_placeholder),
    Pattern(
        "API_KEY",
        re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})"),
        group=1,
        valid=not_placeholder,
    ),
    Pattern(
        "AWS_KEY", re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")
    ),
    Pattern(
        "AWS_KEY",
        re.compile(
            r"(?i)aws[\w .-]{0,20}?secret[\w .-]{0,20}?[:=]\s*[\"']?"
            r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
        group=1,
    ),
    Pattern(
        "EMAIL",
        re.compile(
            r"(?<![\w.%+-])[\w.%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
        ),
    ),
    Pattern("IBAN", re.compile(rf"(?<![A-Za-z0-9])(?:{_IBAN})(?![A-Za-z0-9])"), valid=iban_valid),
    Pattern("CREDIT_CARD", re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?!\d)"), valid=luhn_valid),
    Pattern(
        "IP_ADDRESS",
        re.compile(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
            r"(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
        ),
        valid=ipv6_valid,
    ),
    Pattern(
        "IP_ADDRESS", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)"), valid=ipv4_valid
    ),
    Pattern(
        "PHONE",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
            r"\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)"
        ),
        valid=phone_valid,
    ),
)


class PatternRedactor:
    """Regex-and-validator redaction; stateless, so one instance serves every thread."""

    def __init__(self, patterns: Sequence[Pattern] = DEFAULT_PATTERNS) -> None:
        self._patterns = tuple(patterns)

    def find(self, text: str) -> list[Span]:
        """Non-overlapping findings in text order; earlier patterns win overlaps."""
        spans: list[Span] = []
        for pattern in self._patterns:
            for match in pattern.regex.finditer(text):
                start, end = match.span(pattern.group)
                if start == end or any(s.start < end and start < s.end for s in spans):
                    continue
                if pattern.valid is not None and not pattern.valid(match.group(pattern.group)):
                    continue
                spans.append(Span(start, end, pattern.label))
        return sorted(spans, key=lambda s: s.start)

    def redact(self, text: str) -> str:
        if len(text) < 6:  # nothing shorter can match: skip the regexes for roles, ids, short words
            return text
        spans = self.find(text)
        if not spans:
            return text
        parts: list[str] = []
        position = 0
        for span in spans:
            parts += [text[position : span.start], f"<{span.label}>"]
            position = span.end
        parts.append(text[position:])
        return "".join(parts)


def redact_json(value: object, redactor: Redactor) -> object:
    """A copy of `value` with every string (not object keys) passed through the redactor."""
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, list):
        return [redact_json(item, redactor) for item in value]
    if isinstance(value, dict):
        return {key: redact_json(item, redactor) for key, item in value.items()}
    return value
