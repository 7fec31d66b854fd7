"""Red-teaming a model through the gateway: attack suites, mechanical detectors, a report."""

from __future__ import annotations

__all__: list[str] = []
