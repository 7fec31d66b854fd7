"""The prompt injection and jailbreak guard: normalisation, heuristics, semantic similarity."""

from __future__ import annotations

from steward.guards.injection.guard import InjectionGuard

__all__ = ["InjectionGuard"]
