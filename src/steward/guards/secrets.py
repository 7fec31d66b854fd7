"""The secrets guard: API keys, private keys, JWTs, bearer tokens and passwords in the request,
blocked or masked as `<SECRET>` before they reach a provider.

The key, token and JWT patterns are the payload redactor's (`observe/redact.py`), so what the
gateway masks in a request and what it redacts in a stored payload agree; private keys and
`password=...` assignments are this guard's own.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence

from steward.config.guards_input import SecretKind, SecretsGuardConfig
from steward.guards.base import Decision, GuardInput, InputVerdict
from steward.observe.redact import DEFAULT_PATTERNS, Pattern, PatternRedactor, not_placeholder

__all__ = ["MASK", "SECRET_PATTERNS", "SecretsGuard"]

MASK = "<SECRET>"
REFUSAL = (
    "The request was blocked by the secrets guard: it contains what looks like a credential "
    "(an API key, private key, token or password); remove it and send the request again."
)


def _redactor_patterns() -> list[Pattern]:
    picked: list[Pattern] = []
    for pattern in DEFAULT_PATTERNS:
        if pattern.label == "JWT":
            picked.append(Pattern("jwt", pattern.regex, pattern.group, pattern.valid))
        elif pattern.label == "AWS_KEY":
            picked.append(Pattern("aws_key", pattern.regex, pattern.group, pattern.valid))
        elif pattern.label == "API_KEY":
            # The redactor labels bearer tokens API_KEY too; they are a kind of their own here.
            kind = "bearer" if "bearer" in pattern.regex.pattern else "api_key"
            picked.append(Pattern(kind, pattern.regex, pattern.group, pattern.valid))
    return picked


SECRET_PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
    ),
    *_redactor_patterns(),
    Pattern(
        "password",
        re.compile(
            # The name may end a longer one (DB_PASSWORD). The value is a literal: not a
            # `$VARIABLE`, and not code (`os.environ[...]`, `getenv(...)`), which the
            # possessive run and the look-ahead after it rule out.
            r"(?i)(?<![a-z])(?:password|passwd|pwd|passphrase|pass|secret|client_secret|"
            r"api[_-]?key|access[_-]?token|auth[_-]?token)(?![a-z])[\"']?\s*[:=]\s*[\"']?"
            r"(?![$])([^\s\"'(),;<>\[\]{}]{6,}+)(?![(\[])"
        ),
        group=1,
        valid=not_placeholder,
    ),
    Pattern(
        "password",  # the password in a URL: postgres://user:password@host/db
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s:/@]{3,})@"),
        group=1,
        valid=not_placeholder,
    ),
)


class SecretsGuard:
    name = "secrets"

    def __init__(self, config: SecretsGuardConfig) -> None:
        self._config = config
        self._scan = frozenset(config.scan)
        kinds: frozenset[SecretKind] = frozenset(config.kinds)
        self._redactor = PatternRedactor([p for p in SECRET_PATTERNS if p.label in kinds])

    def refusal(self, decision: Decision) -> str:
        return REFUSAL

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        started = time.perf_counter()
        found: Counter[str] = Counter()
        replacements: dict[int, str] = {}
        for item in inputs:
            if item.source not in self._scan or len(item.text) < 8:
                continue
            spans = self._redactor.find(item.text)
            if not spans:
                continue
            found.update(span.label for span in spans)
            parts: list[str] = []
            position = 0
            for span in spans:
                parts += [item.text[position : span.start], MASK]
                position = span.end
            parts.append(item.text[position:])
            replacements[item.message_index] = "".join(parts)
        action = self._config.action if found else "allow"
        detail = ", ".join(f"{kind} x{n}" for kind, n in sorted(found.items())) or None
        latency_ms = (time.perf_counter() - started) * 1000.0
        decision = Decision(self.name, action, None, latency_ms, detail)
        return InputVerdict(decision, replacements if action == "mask" else None)
