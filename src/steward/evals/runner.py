"""The evaluation runner: every (item, repeat) through the gateway at a fixed concurrency, each
answer scored, each result handed to a sink as it completes.

`concurrency` workers pull from one queue, so the target stays saturated up to the limit
however uneven the latencies are. A call that fails with a retryable status (429, 5xx, no
answer) is retried with exponential backoff and full jitter; what still fails is a result with
`error` set, never an exception that stops the run. Pairs in `done` are skipped (a resumed run).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from steward.client.gateway import GatewayError, Reply
from steward.evals.results import Item, ItemResult, Score
from steward.evals.scorers.base import Scorer
from steward.evals.target import EvalTarget
from steward.types import JSONObject

__all__ = ["Chat", "Progress", "RunSettings", "Runner"]


class Chat(Protocol):
    """What the runner calls: `GatewayClient.chat`, or anything answering like it."""

    async def __call__(self, body: JSONObject) -> Reply: ...


@dataclass(frozen=True, slots=True)
class RunSettings:
    concurrency: int = 8
    retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0


@dataclass(slots=True)
class Progress:
    total: int
    done: int = 0
    errors: int = 0
    started: float = 0.0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


class Runner:
    def __init__(
        self,
        chat: Chat,
        target: EvalTarget,
        scorers: Sequence[Scorer],
        settings: RunSettings = RunSettings(),
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._chat = chat
        self._target = target
        self._scorers = list(scorers)
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def run(
        self,
        items: Sequence[Item],
        *,
        repeats: int,
        sink: Callable[[ItemResult], Awaitable[None]],
        done: Collection[tuple[str, int]] = (),
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Progress:
        """Run every pair not in `done`; `sink` gets each result as it completes."""
        queue: asyncio.Queue[tuple[Item, int]] = asyncio.Queue()
        for repeat in range(repeats):
            for item in items:
                if (item.id, repeat) not in done:
                    queue.put_nowait((item, repeat))
        progress = Progress(total=queue.qsize(), started=time.perf_counter())

        async def worker() -> None:
            while not queue.empty():
                item, repeat = queue.get_nowait()
                result = await self.evaluate(item, repeat)
                await sink(result)
                progress.done += 1
                progress.errors += result.error is not None
                if on_progress is not None:
                    on_progress(progress)

        workers = min(self._settings.concurrency, progress.total) or 0
        await asyncio.gather(*(worker() for _ in range(workers)))
        return progress

    async def evaluate(self, item: Item, repeat: int) -> ItemResult:
        """One call and its scores; failures become a result with `error` set."""
        try:
            body = self._target.body(item)
        except Exception as exc:  # a malformed item must not stop the run
            return ItemResult(item.id, repeat, error=str(exc))
        reply_or_error = await self._call(body)
        if isinstance(reply_or_error, GatewayError):
            error = reply_or_error
            return ItemResult(item.id, repeat, latency_ms=error.latency_ms, error=error.message)
        reply = reply_or_error
        output = reply.text
        try:
            scores = await self._score(output, item)
        except GatewayError as exc:
            # A judge that could not be reached has not judged: the pair is an error, retried
            # by `--resume`, not a failing score.
            return ItemResult(
                item.id,
                repeat,
                output=output,
                latency_ms=reply.latency_ms,
                error=f"scoring: {exc.message}",
            )
        return ItemResult(
            item_id=item.id,
            repeat=repeat,
            scores=scores,
            output=output,
            latency_ms=reply.latency_ms,
            cost_usd=reply.cost_usd,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            request_id=reply.request_id,
        )

    async def _call(self, body: JSONObject) -> Reply | GatewayError:
        settings = self._settings
        for attempt in range(settings.retries + 1):
            try:
                return await self._chat(body)
            except GatewayError as exc:
                if not exc.retryable or attempt == settings.retries:
                    return exc
                cap = min(settings.max_backoff_s, settings.backoff_s * 2**attempt)
                await self._sleep(self._rng.uniform(0, cap))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _score(self, output: str, item: Item) -> Mapping[str, Score]:
        scores: dict[str, Score] = {}
        for scorer in self._scorers:
            try:
                scores[scorer.name] = await scorer.score(output, item)
            except GatewayError:
                raise
            except Exception as exc:  # a scorer plugin's bug is that item's failure, not the run's
                scores[scorer.name] = Score(
                    0.0, False, f"scorer raised {type(exc).__name__}: {exc}"
                )
        return scores
