"""One stored evaluation run, start to finish: pin the dataset version and the target, create
or resume the run row, drive the runner, write results in batches off the event loop, and mark
the run finished (or failed, when interrupted, so `--resume` can pick it up)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from steward.client.gateway import GatewayClient, Reply
from steward.errors import InvalidRequestError
from steward.evals.results import ItemResult
from steward.evals.runner import Progress, Runner, RunSettings
from steward.evals.scorers.base import Scorer
from steward.evals.target import EvalTarget, resolve_target
from steward.storage import datasets as dataset_store
from steward.storage import evals as store
from steward.types import JSONObject

__all__ = ["GatewayChat", "RunRequest", "ScorerBuilder", "execute"]

ScorerBuilder = Callable[[Sequence[str]], list[Scorer]]
"""Specs to scorers (`steward.evals.scorers.build_scorers` with a judge and an encoder bound)."""

_BATCH = 50


@dataclass(frozen=True, slots=True)
class RunRequest:
    dataset: str
    dataset_version: int | None
    target: str
    scorers: tuple[str, ...]
    repeats: int = 1
    settings: RunSettings = field(default_factory=RunSettings)
    params: JSONObject | None = None
    resume: str | None = None
    """A run id: continue it (same dataset version, target and scorers) instead of a new run."""


class GatewayChat:
    """The runner's `Chat` over a `GatewayClient`."""

    def __init__(self, client: GatewayClient) -> None:
        self._client = client

    async def __call__(self, body: JSONObject) -> Reply:
        return await self._client.chat(body)


async def execute(
    engine: Engine,
    chat: GatewayChat,
    request: RunRequest,
    build: ScorerBuilder,
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[store.RunRow, Progress]:
    run, target, specs = await asyncio.to_thread(_prepare, engine, request)
    items = await asyncio.to_thread(
        dataset_store.get_items, engine, run.dataset, run.dataset_version
    )
    done = {
        (r.item_id, r.repeat)
        for r in await asyncio.to_thread(store.load_results, engine, run.id)
        if r.error is None
    }
    runner = Runner(chat, target, _scorers(build, specs, target), request.settings)
    pending: list[ItemResult] = []

    async def sink(result: ItemResult) -> None:
        pending.append(result)
        if len(pending) >= _BATCH:
            batch = pending[:]
            pending.clear()
            await asyncio.to_thread(store.save_results, engine, run.id, batch)

    status: store.RunStatus = "failed"
    try:
        progress = await runner.run(
            list(items), repeats=run.repeats, sink=sink, done=done, on_progress=on_progress
        )
        status = "finished"
    finally:
        # Interrupted or not, what was answered is kept: `--resume` continues from it.
        await asyncio.to_thread(store.save_results, engine, run.id, pending)
        await asyncio.to_thread(store.finish_run, engine, run.id, status)
    return await asyncio.to_thread(store.get_run, engine, run.id), progress


def _prepare(engine: Engine, request: RunRequest) -> tuple[store.RunRow, EvalTarget, list[str]]:
    if request.resume is not None:
        run = store.get_run(engine, request.resume)
        target = resolve_target(engine, run.target, params=run.spec.get("params"))
        return run, target, list(run.spec["scorers"])
    if not request.scorers:
        raise InvalidRequestError(
            "Give at least one --scorer (exact, contains, regex:PATTERN, json, json_schema, "
            "numeric:TOL, semantic:THRESHOLD, judge:MODEL, or a plugin)."
        )
    version = dataset_store.get_version(engine, request.dataset, request.dataset_version)
    target = resolve_target(engine, request.target, params=request.params)
    run = store.create_run(
        engine,
        dataset=version.name,
        dataset_version=version.version,
        target_ref=target.model,
        prompt_name=target.prompt_name,
        prompt_version=target.prompt_version,
        repeats=request.repeats,
        spec={
            "scorers": list(request.scorers),
            "params": request.params,
            "concurrency": request.settings.concurrency,
        },
    )
    return run, target, list(request.scorers)


def _scorers(build: ScorerBuilder, specs: Sequence[str], target: EvalTarget) -> list[Scorer]:
    """A bare `json_schema` checks answers against the prompt version's `output_schema` (and
    keeps its short name in the results)."""
    if target.output_schema is None or "json_schema" not in specs:
        return build(specs)
    inline = "json_schema:" + json.dumps(target.output_schema, separators=(",", ":"))
    built = build([inline if spec == "json_schema" else spec for spec in specs])
    return [
        dataclasses.replace(scorer, name="json_schema")
        if spec == "json_schema" and dataclasses.is_dataclass(scorer)
        else scorer
        for spec, scorer in zip(specs, built, strict=True)
    ]
