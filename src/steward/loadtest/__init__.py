"""`steward loadtest`: load through a running gateway, measured as an app would see it."""

from __future__ import annotations

from steward.loadtest.plan import LoadPlan, arrival_times, worker_starts
from steward.loadtest.report import LoadReport, build_report
from steward.loadtest.runner import Caller, Progress, run_load
from steward.loadtest.samples import Outcome, RunResult, Sample

__all__ = [
    "Caller",
    "LoadPlan",
    "LoadReport",
    "Outcome",
    "Progress",
    "RunResult",
    "Sample",
    "arrival_times",
    "build_report",
    "run_load",
    "worker_starts",
]
