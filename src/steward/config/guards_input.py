"""Settings of the input guards: injection and jailbreak, secrets, limits, topic rules."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import Field, model_validator

from steward.config.section import Section

__all__ = [
    "DEFAULT_INJECTION_THRESHOLD",
    "DEFAULT_TOPIC_THRESHOLD",
    "InjectionGuardConfig",
    "InjectionJudgeConfig",
    "InjectionLayer",
    "LimitsGuardConfig",
    "ScanSource",
    "SecretKind",
    "SecretsGuardConfig",
    "TopicsGuardConfig",
]

ScanSource: TypeAlias = Literal["user", "tool", "document", "system", "assistant"]
InjectionLayer: TypeAlias = Literal["heuristics", "semantic", "judge"]
SecretKind: TypeAlias = Literal["api_key", "aws_key", "private_key", "jwt", "password", "bearer"]

DEFAULT_INJECTION_THRESHOLD = 0.5
"""Chosen with bench/guard_quality.py (docs/guardrails.md has the table)."""
DEFAULT_TOPIC_THRESHOLD = 0.15


class InjectionJudgeConfig(Section):
    """The judge layer: a model of this gateway asked whether a message is an injection, for
    the messages the other layers score in the grey band [`band`, the guard's threshold)."""

    model: str = Field(min_length=1)
    """A public model of this gateway (`[models.NAME]`), called through it: its targets,
    fallbacks and breakers apply, and its tokens are charged to the request judged."""
    band: float = Field(default=0.3, ge=0, lt=1)
    timeout_ms: int = Field(default=3000, ge=1)
    max_chars: int = Field(default=4000, ge=100)
    """A message longer than this is judged on its first and last halves of this size."""
    max_messages: int = Field(default=3, ge=1)
    """Messages judged per request at most (the highest-scoring in the band), concurrently."""
    unavailable: Literal["pass", "block"] = "pass"
    """When the judge fails or times out: keep the other layers' score (`pass`), or treat the
    message as an injection (`block`, fail closed)."""


class InjectionGuardConfig(Section):
    action: Literal["block", "flag", "strip"] = "block"
    threshold: float = Field(default=DEFAULT_INJECTION_THRESHOLD, gt=0, le=1)
    scan: list[ScanSource] = Field(default=["user", "tool", "document"], min_length=1)
    layers: list[InjectionLayer] = Field(default=["heuristics"], min_length=1)
    document_chars: int = Field(default=1000, ge=1)
    max_segments: int = Field(default=16, ge=1)
    judge: InjectionJudgeConfig | None = None

    @model_validator(mode="after")
    def _judge_configured(self) -> InjectionGuardConfig:
        if "judge" in self.layers and self.judge is None:
            raise ValueError(
                'the "judge" layer needs a judge model: add [models.NAME.guards.injection.judge]'
                ' with model = "<a public model of this gateway>"'
            )
        if self.judge is not None and "judge" not in self.layers:
            raise ValueError('[...injection.judge] is set but "judge" is not in layers; add it')
        if self.judge is not None and self.judge.band >= self.threshold:
            raise ValueError(
                f"judge band {self.judge.band:g} must be below the threshold {self.threshold:g}:"
                " the judge sees messages scored in [band, threshold)"
            )
        if self.layers == ["judge"]:
            raise ValueError(
                '"judge" needs another layer ("heuristics" or "semantic") to score'
                " the messages it is asked about"
            )
        return self


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
