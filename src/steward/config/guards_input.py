"""Settings of the input guards: injection and jailbreak, secrets, limits, topic rules."""

from __future__ import annotations

from steward.config.section import Section

__all__ = [
    "InjectionGuardConfig",
    "LimitsGuardConfig",
    "SecretsGuardConfig",
    "TopicsGuardConfig",
]


class InjectionGuardConfig(Section):
    pass


class SecretsGuardConfig(Section):
    pass


class LimitsGuardConfig(Section):
    pass


class TopicsGuardConfig(Section):
    pass
