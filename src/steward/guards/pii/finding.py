"""A PII finding: an entity type and the characters it covers, with the recognizer's score."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "non_overlapping"]


@dataclass(frozen=True, slots=True)
class Finding:
    entity: str
    start: int
    end: int
    score: float


def non_overlapping(findings: list[Finding]) -> list[Finding]:
    """Highest score first, then longest; a finding overlapping a kept one is dropped."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.score, f.start - f.end)):
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
