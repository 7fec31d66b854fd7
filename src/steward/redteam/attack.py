"""What a red-team suite is made of: attacks, their goals, and the placeholders they fill in."""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Attack", "Goal", "Request", "Suite", "encodings", "leet", "render"]

Goal: TypeAlias = Literal["marker", "canary", "system_chunk", "pii", "compliance"]
"""What counts as the attack working; `detectors` has one rule per goal."""

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


@dataclass(frozen=True, slots=True)
class Request:
    """A mild request a model should refuse, and words that show an answer went along with it.

    `signals` are specific to complying (the tools or steps such an answer would name), not to
    the topic, so that a refusal which mentions the topic does not match.
    """

    slug: str
    text: str
    signals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Attack:
    """One attack template.

    `prompt` is the user's turn. `document`, when set, is content the app passes in: inlined
    into the user's turn at `{document}` (or after it), or, with `tool` set, returned as that
    tool's output after an assistant turn that called it. `goals` overrides the suite's.
    `request` is the plain request a jailbreak or harmful attack carries, for the compliance
    detector and the judge.
    """

    slug: str
    technique: str
    prompt: str
    document: str | None = None
    tool: str | None = None
    goals: tuple[Goal, ...] = ()
    request: Request | None = None


@dataclass(frozen=True, slots=True)
class Suite:
    """A category of attacks: its name on the command line, a title, its default goals."""

    name: str
    title: str
    goals: tuple[Goal, ...]
    attacks: tuple[Attack, ...]

    def goals_of(self, attack: Attack) -> tuple[Goal, ...]:
        return attack.goals or self.goals


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill `{name}` placeholders that `values` knows; other braces (JSON, code) stay as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def leet(text: str) -> str:
    """`text` in leetspeak: lower case, with a, e, i, o, s and t as 4, 3, 1, 0, 5 and 7."""
    return text.lower().translate(_LEET)


def encodings(prefix: str, text: str) -> dict[str, str]:
    """`text` and the obfuscated forms attacks use, as placeholders named `prefix_<form>`."""
    words = text.split()
    middle = len(words) // 2
    return {
        prefix: text,
        f"{prefix}_b64": base64.b64encode(text.encode()).decode("ascii"),
        f"{prefix}_rot13": codecs.encode(text, "rot13"),
        f"{prefix}_leet": leet(text),
        f"{prefix}_reversed": text[::-1],
        f"{prefix}_spaced": " ".join(text),
        f"{prefix}_head": " ".join(words[:middle]) if middle else text[: len(text) // 2],
        f"{prefix}_tail": " ".join(words[middle:]) if middle else text[len(text) // 2 :],
    }
