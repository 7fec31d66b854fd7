"""The state machine of one alert rule: ok → pending (for `for_s`) → firing → resolved.

Pending lives in this replica's memory; firing lives in the `alerts` table, shared by every
replica, and `step` is told whether the table has the rule firing. A replica that sees the
condition hold while the table already has it firing adopts that episode and stays quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from steward.config.alerts import Condition

__all__ = ["Action", "Phase", "RuleTracker", "holds"]

Phase: TypeAlias = Literal["ok", "pending", "firing"]
Action: TypeAlias = Literal["fire", "resolve"]


def holds(condition: Condition, value: float, threshold: float) -> bool:
    if condition == ">":
        return value > threshold
    if condition == ">=":
        return value >= threshold
    if condition == "<":
        return value < threshold
    return value <= threshold


@dataclass(slots=True)
class RuleTracker:
    for_s: float
    phase: Phase = "ok"
    pending_since: datetime | None = None

    def step(self, holding: bool, now: datetime, *, firing: bool) -> Action | None:
        """What to do after one evaluation: fire (open an episode), resolve it, or nothing.

        `firing`: the table has a firing episode of this rule, from any replica.
        """
        if not holding:
            self.phase, self.pending_since = "ok", None
            return "resolve" if firing else None
        if firing:
            self.phase, self.pending_since = "firing", None
            return None
        if self.pending_since is None:
            # From ok; or from firing, when another replica resolved the episode while the
            # condition still holds here: a new episode must wait `for_s` like any other.
            self.phase, self.pending_since = "pending", now
        if (now - self.pending_since).total_seconds() >= self.for_s:
            return "fire"
        return None

    def fired(self) -> None:
        """The episode is open in the table (this replica's insert, or another's)."""
        self.phase, self.pending_since = "firing", None
