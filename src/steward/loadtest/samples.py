"""What a load test records: one outcome per request, when it was due, sent and answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from steward.loadtest.plan import LoadPlan

__all__ = ["CostSource", "Outcome", "RunResult", "Sample"]

CostSource = Literal["gateway", "estimated"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one request: `status` 200 for a success, the HTTP status of a refusal, or
    0 when no HTTP answer came (connection failed, timeout, stream broken off)."""

    status: int
    latency_ms: float
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: CostSource | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: seconds from the start of the run when it was due (open loop), was sent,
    and was answered."""

    outcome: Outcome
    sent_s: float
    done_s: float
    due_s: float | None = None

    @property
    def lag_ms(self) -> float | None:
        """How late an open-loop request was sent (the load tester's own delay)."""
        return None if self.due_s is None else max(0.0, (self.sent_s - self.due_s) * 1000.0)


@dataclass(slots=True)
class RunResult:
    """Every sample of a run, the open-loop arrivals refused at `max_in_flight`, and the times."""

    plan: LoadPlan
    started_at: datetime
    samples: list[Sample] = field(default_factory=list)
    refused_s: list[float] = field(default_factory=list)
    sending_ended_s: float = 0.0
    elapsed_s: float = 0.0
    interrupted: bool = False
    unfinished: int = 0
