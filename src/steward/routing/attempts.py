"""One try of one target, kept on the call context and stored with the request record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

__all__ = ["Attempt", "attempts_json"]


@dataclass(frozen=True, slots=True)
class Attempt:
    target: str
    status: int
    """HTTP status the attempt ended with: 200, the upstream's error status, or Steward's."""
    latency_ms: float
    error_type: str | None = None
    message: str | None = None
    hedged: bool = False

    def describe(self) -> str:
        if self.error_type is None:
            return f"{self.target}: ok in {self.latency_ms:.0f} ms"
        return f"{self.target}: {self.message or self.error_type}"


def attempts_json(attempts: Sequence[Attempt]) -> str:
    return orjson.dumps(
        [
            {
                "target": a.target,
                "status": a.status,
                "latency_ms": round(a.latency_ms, 3),
                "error_type": a.error_type,
                "message": a.message,
                **({"hedged": True} if a.hedged else {}),
            }
            for a in attempts
        ]
    ).decode()
