"""Prompt references: `prompt:NAME`, `prompt:NAME@LABEL` and `prompt:NAME@VERSION`."""

from __future__ import annotations

from dataclasses import dataclass

from steward.errors import InvalidRequestError
from steward.prompts.definition import NAME_PATTERN

__all__ = ["DEFAULT_LABEL", "PREFIX", "PromptRef", "parse_prompt_ref"]

PREFIX = "prompt:"
DEFAULT_LABEL = "production"
"""What `prompt:NAME` means: the version labelled `production`, else the latest version."""


@dataclass(frozen=True, slots=True)
class PromptRef:
    """A prompt and which of its versions: a number, a label, or neither (the default)."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{PREFIX}{self.name}@{self.version}"
        if self.label is not None:
            return f"{PREFIX}{self.name}@{self.label}"
        return PREFIX + self.name


def parse_prompt_ref(text: str) -> PromptRef:
    """Parse a reference, with or without the `prompt:` prefix; errors say what a ref looks like."""
    body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    name, at, selector = body.partition("@")
    if not NAME_PATTERN.match(name) or (at and not selector):
        raise InvalidRequestError(
            f"{text!r} is not a prompt reference; write prompt:NAME, prompt:NAME@LABEL or "
            "prompt:NAME@VERSION (e.g. prompt:support-reply@production).",
            param="model",
        )
    if not at:
        return PromptRef(name)
    if selector.isdigit():
        return PromptRef(name, version=int(selector))
    return PromptRef(name, label=selector)
