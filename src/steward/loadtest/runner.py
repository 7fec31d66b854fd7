"""Drives a load plan on one event loop: open loop by the clock, or closed loop by workers.

Open loop sends each request at its scheduled time and never waits for answers, so a slow
gateway shows up as latency and in-flight requests, not as a lower offered rate; an arrival
that finds `max_in_flight` requests outstanding is refused and counted. Closed loop runs
`concurrency` workers that each send the next request as soon as the last one is answered.
Setting `stop` ends sending at once and abandons the requests still in flight (counted as
unfinished), so an interrupted run still reports what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from steward.loadtest.plan import LoadPlan, arrival_times, worker_starts
from steward.loadtest.samples import Outcome, RunResult, Sample
from steward.types import JSONObject

__all__ = ["Caller", "Progress", "run_load"]

Caller = Callable[[JSONObject], Awaitable[Outcome]]
"""Sends one request and returns its outcome; failures are outcomes, not exceptions."""

_SHORT_PAUSE_S = 0.1
"""Pauses shorter than this are plain sleeps; longer ones also end early on `stop`."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Counts so far, for a progress line while a run goes on."""

    elapsed_s: float
    sent: int
    ok: int
    errors: int
    in_flight: int
    refused: int


async def run_load(
    plan: LoadPlan,
    call: Caller,
    pool: Sequence[JSONObject],
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    progress_interval_s: float = 1.0,
) -> RunResult:
    """Run `plan`, cycling through `pool`, and return every sample."""
    if not pool:
        raise ValueError("the request pool is empty")
    run = _Run(plan, call, pool, stop or asyncio.Event())
    ticker = None
    if on_progress is not None:
        ticker = asyncio.create_task(_tick(run, on_progress, progress_interval_s))
    try:
        if plan.mode == "open":
            await _open_loop(run)
        else:
            await _closed_loop(run)
        await run.drain()
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    run.result.elapsed_s = run.now()
    return run.result


class _Run:
    """The state of one run: the clock, the request cycle, the tasks and counters."""

    def __init__(
        self, plan: LoadPlan, call: Caller, pool: Sequence[JSONObject], stop: asyncio.Event
    ) -> None:
        self.result = RunResult(plan=plan, started_at=datetime.now(UTC))
        self.start = time.perf_counter()
        self.call = call
        self.stop = stop
        self.bodies = itertools.cycle(pool)
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle = asyncio.Event()
        self.active = 0
        self.ok = 0

    def now(self) -> float:
        return time.perf_counter() - self.start

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        self.idle.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not self.tasks:
            self.idle.set()

    async def send(self, due_s: float | None) -> None:
        body = next(self.bodies)
        self.active += 1
        sent_s = self.now()
        try:
            outcome = await self.call(body)
        except Exception as exc:  # a caller bug must not end the run; it shows as an error
            outcome = Outcome(status=0, latency_ms=0.0, message=f"load tester: {exc!r}")
        finally:
            self.active -= 1
        self.ok += outcome.ok
        self.result.samples.append(Sample(outcome, sent_s, self.now(), due_s))

    async def pause(self, delay_s: float) -> None:
        if delay_s <= 0:
            return
        if delay_s < _SHORT_PAUSE_S:
            await asyncio.sleep(delay_s)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self.stop.wait()

    def end_sending(self) -> None:
        plan = self.result.plan
        self.result.sending_ended_s = min(self.now(), plan.end_s) if self.stopped else plan.end_s

    @property
    def stopped(self) -> bool:
        return self.stop.is_set()

    async def drain(self) -> None:
        """Wait for the tasks still running, unless `stop` is set first; then abandon them."""
        if self.tasks and not self.stopped:
            waiters = [asyncio.ensure_future(e.wait()) for e in (self.idle, self.stop)]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        if self.tasks:
            self.result.interrupted = True
            self.result.unfinished = self.active
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.stopped:
            self.result.interrupted = True


async def _open_loop(run: _Run) -> None:
    plan = run.result.plan
    for due_s in arrival_times(plan):
        await run.pause(due_s - run.now())
        if run.stopped:
            break
        if run.active >= plan.max_in_flight:
            run.result.refused_s.append(due_s)
            continue
        run.spawn(run.send(due_s))
    run.end_sending()


async def _closed_loop(run: _Run) -> None:
    end_s = run.result.plan.end_s

    async def worker(start_s: float) -> None:
        await run.pause(start_s - run.now())
        while not run.stopped and run.now() < end_s:
            await run.send(None)

    for start_s in worker_starts(run.result.plan):
        run.spawn(worker(start_s))
    await run.pause(end_s - run.now())
    run.end_sending()


async def _tick(run: _Run, on_progress: Callable[[Progress], None], interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        result = run.result
        done = len(result.samples)
        sent = done + run.active
        on_progress(
            Progress(run.now(), sent, run.ok, done - run.ok, run.active, len(result.refused_s))
        )
