"""Settings of the PII guard: which entity types, and block, mask or pseudonymise each."""

from __future__ import annotations

from steward.config.section import Section

__all__ = ["PIIGuardConfig"]


class PIIGuardConfig(Section):
    pass
