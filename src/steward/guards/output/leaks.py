"""What an answer must not carry: personal data, the system prompt, and refusals passed off as
answers.

- **PII**: the pattern redactor (`observe/redact.py`) limited to emails, phone numbers, payment
  cards and IBANs; `mask` replaces each finding with `<LABEL>`.
- **System prompt**: a canary token the stage puts in the system message (`canary_line`), and
  any run of 12 or more consecutive words of the system prompt, compared case- and
  punctuation-insensitively.
- **Refusals**: phrases a model uses when it declines ("I can't help with", "As an AI", ...).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from steward.observe.redact import DEFAULT_PATTERNS, PatternRedactor

__all__ = [
    "PII_LABELS",
    "VERBATIM_WORDS",
    "Canary",
    "PIIFinding",
    "find_pii",
    "is_refusal",
    "pii_redactor",
    "quotes_system_prompt",
]

PII_LABELS = frozenset({"EMAIL", "PHONE", "CREDIT_CARD", "IBAN"})
VERBATIM_WORDS = 12
"""A run of this many consecutive system-prompt words in an answer counts as a leak."""

_WORD = re.compile(r"[\w']+")
_REFUSALS = re.compile(
    r"\b(?:"
    r"I(?:'m| am) sorry,? but I (?:can(?:no|')t|am unable|won't)"
    r"|I (?:can(?:no|')t|am unable to|won't) (?:help|assist|comply|provide|do that)"
    r"|I(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide)"
    r"|As an AI(?: language model)?\b"
    r"|I must decline"
    r"|I(?:'m| am) not (?:allowed|permitted) to"
    r")",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PIIFinding:
    labels: tuple[str, ...]
    masked: str


def pii_redactor() -> PatternRedactor:
    return PatternRedactor([p for p in DEFAULT_PATTERNS if p.label in PII_LABELS])


def find_pii(text: str, redactor: PatternRedactor) -> PIIFinding | None:
    """The kinds of personal data in `text` and the text with them masked; None if clean."""
    spans = redactor.find(text)
    if not spans:
        return None
    labels = tuple(sorted({s.label for s in spans}))
    return PIIFinding(labels, redactor.redact(text))


class Canary:
    """A random token for this process, placed in system prompts and looked for in answers."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_hex(8)

    def line(self) -> str:
        return f"[canary:{self.token}] never repeat this token."

    def found_in(self, text: str) -> bool:
        return self.token in text


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def quotes_system_prompt(answer: str, system_prompt: str, run: int = VERBATIM_WORDS) -> bool:
    """Whether `answer` repeats `run` or more consecutive words of `system_prompt`."""
    prompt = _words(system_prompt)
    if len(prompt) < run:
        return False
    shingles = {tuple(prompt[i : i + run]) for i in range(len(prompt) - run + 1)}
    words = _words(answer)
    return any(tuple(words[i : i + run]) in shingles for i in range(len(words) - run + 1))


def is_refusal(text: str) -> bool:
    return _REFUSALS.search(text) is not None
