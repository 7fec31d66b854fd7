"""Output guards: schema validation and repair, leaks, refusals, confidence and escalation."""

from __future__ import annotations

__all__: list[str] = []
