"""Settings of the input guards: injection and jailbreak, secrets, limits, topic rules."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import Field, model_validator

from steward.config.section import Section

__all__ = [
    "DEFAULT_INJECTION_THRESHOLD",
    "DEFAULT_TOPIC_THRESHOLD",
    "InjectionGuardConfig",
    "InjectionLayer",
    "LimitsGuardConfig",
    "ScanSource",
    "SecretKind",
    "SecretsGuardConfig",
    "TopicsGuardConfig",
]

ScanSource: TypeAlias = Literal["user", "tool", "document", "system", "assistant"]
InjectionLayer: TypeAlias = Literal["heuristics", "semantic"]
SecretKind: TypeAlias = Literal["api_key", "aws_key", "private_key", "jwt", "password", "bearer"]

DEFAULT_INJECTION_THRESHOLD = 0.5
"""Chosen with bench/guard_quality.py (docs/guardrails.md has the table)."""
DEFAULT_TOPIC_THRESHOLD = 0.15


class InjectionGuardConfig(Section):
    action: Literal["block", "flag", "strip"] = "block"
    threshold: float = Field(default=DEFAULT_INJECTION_THRESHOLD, gt=0, le=1)
    scan: list[ScanSource] = Field(default=["user", "tool", "document"], min_length=1)
    layers: list[InjectionLayer] = Field(default=["heuristics"], min_length=1)
    document_chars: int = Field(default=1000, ge=1)
    max_segments: int = Field(default=16, ge=1)


class SecretsGuardConfig(Section):
    action: Literal["block", "mask"] = "mask"
    kinds: list[SecretKind] = Field(
        default=["api_key", "aws_key", "private_key", "jwt", "password", "bearer"], min_length=1
    )
    scan: list[ScanSource] = Field(
        default=["user", "tool", "document", "system", "assistant"], min_length=1
    )


class LimitsGuardConfig(Section):
    max_chars: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_messages: int | None = Field(default=None, ge=1)


class TopicsGuardConfig(Section):
    allow: list[str] = []
    deny: list[str] = []
    threshold: float = Field(default=DEFAULT_TOPIC_THRESHOLD, gt=-1, lt=1)
    """`allow`: a message whose best cosine to the allowed topics is below it is off topic."""
    deny_threshold: float | None = Field(default=None, gt=-1, lt=1)
    """`deny`: a message whose cosine to a denied topic reaches it is on that topic; by
    default `threshold`. Its own when a rule has both lists: an allow list wants a low bar, a
    deny list often a higher one."""

    @property
    def deny_at(self) -> float:
        return self.threshold if self.deny_threshold is None else self.deny_threshold

    action: Literal["block", "flag"] = "block"
    message: str | None = None

    @model_validator(mode="after")
    def _has_topics(self) -> TopicsGuardConfig:
        if not self.allow and not self.deny:
            raise ValueError("set `allow` or `deny` (a list of topic descriptions), or both")
        return self
