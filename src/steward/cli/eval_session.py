"""What the `steward eval` commands share: the gateway client from config, the scorer builder,
the progress line, run summaries, comparisons and their reports, and the gate."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from steward.cli.common import database_session, fail

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from steward.client.gateway import GatewayClient
    from steward.config.loading import LoadedConfig
    from steward.evals.compare import Comparison
    from steward.evals.results import ItemResult
    from steward.evals.runner import Progress
    from steward.evals.scorers.base import Scorer
    from steward.evals.session import RunRequest, ScorerBuilder
    from steward.storage.evals import RunRow
    from steward.types import JSONObject

__all__ = [
    "GateOutcome",
    "compare_runs",
    "comparison_text",
    "print_run",
    "run_gate",
    "run_one",
    "write_reports",
]


@dataclass(frozen=True, slots=True)
class GateOutcome:
    comparison: Comparison
    gate_id: str
    passed: bool
    title: str


@dataclass(frozen=True, slots=True)
class _Gateway:
    url: str
    key: str
    timeout_s: float


def run_one(
    loaded: LoadedConfig,
    config: Path | None,
    *,
    dataset: str,
    target: str,
    scorers: Sequence[str],
    repeats: int,
    params: JSONObject | None,
    resume: str | None,
    concurrency: int | None,
    base_url: str | None,
    key: str | None,
) -> RunRow:
    gateway = _gateway(loaded, base_url, key)
    request = _request(loaded, dataset, target, scorers, repeats, params, resume, concurrency)
    with database_session(config) as engine:
        return asyncio.run(_run_all(engine, gateway, [request]))[0]


async def _run_all(
    engine: Engine, gateway: _Gateway, requests: Sequence[RunRequest]
) -> list[RunRow]:
    """Runs side by side on one client (a gate's two runs see the same conditions)."""
    from steward.client.gateway import GatewayClient
    from steward.evals.session import GatewayChat, execute

    async with GatewayClient(gateway.url, gateway.key, timeout_s=gateway.timeout_s) as client:
        chat = GatewayChat(client)
        bar = _ProgressLine(len(requests))
        results = await asyncio.gather(
            *(
                execute(engine, chat, request, _builder(client), on_progress=bar.updater(i))
                for i, request in enumerate(requests)
            )
        )
        bar.close()
    return [row for row, _ in results]


def _request(
    loaded: LoadedConfig,
    dataset: str,
    target: str,
    scorers: Sequence[str],
    repeats: int,
    params: JSONObject | None,
    resume: str | None,
    concurrency: int | None,
) -> RunRequest:
    from steward.evals.datasets import parse_ref
    from steward.evals.runner import RunSettings
    from steward.evals.session import RunRequest

    evals = loaded.config.evals
    name, version = parse_ref(dataset) if resume is None else ("", None)
    settings = RunSettings(concurrency=concurrency or evals.concurrency, retries=evals.retries)
    return RunRequest(
        dataset=name,
        dataset_version=version,
        target=target,
        scorers=tuple(scorers),
        repeats=repeats,
        settings=settings,
        params=params,
        resume=resume,
    )


def _gateway(loaded: LoadedConfig, base_url: str | None, key: str | None) -> _Gateway:
    from steward.config.secrets import resolve_secret

    evals = loaded.config.evals
    server = loaded.config.server
    url = base_url or evals.base_url or f"http://{server.host}:{server.port}"
    secret = key or resolve_secret(evals.api_key)
    if not secret:
        fail(
            f"No API key for the gateway: pass --key or set {evals.api_key.removeprefix('env:')} "
            "(create one with `steward keys create --name evals`)."
        )
    return _Gateway(url, secret, evals.timeout_s)


class _Judge:
    """The judge scorer's `Completer` over the gateway: deterministic, no cache bypass."""

    def __init__(self, client: GatewayClient) -> None:
        self._client = client

    async def __call__(self, model: str, messages: list[dict[str, object]]) -> str:
        reply = await self._client.chat({"model": model, "messages": messages, "temperature": 0})
        return reply.text


def _builder(client: GatewayClient) -> ScorerBuilder:
    from steward.evals.scorers import build_scorers
    from steward.evals.scorers.semantic import LazyEncoder

    encoder = LazyEncoder()
    judge = _Judge(client)

    def build(specs: Sequence[str]) -> list[Scorer]:
        return build_scorers(specs, judge=judge, embedder=encoder)

    return build


class _ProgressLine:
    """One line on stderr, redrawn at most five times a second (a line per 10% when stderr is
    not a terminal, so CI logs stay short)."""

    def __init__(self, runs: int) -> None:
        self._states: list[Progress | None] = [None] * runs
        self._drawn = 0.0
        self._tty = sys.stderr.isatty()
        self._last_decile = -1

    def updater(self, index: int) -> Callable[[Progress], None]:
        def update(progress: Progress) -> None:
            self._states[index] = progress
            self._draw()

        return update

    def _draw(self) -> None:
        states = [s for s in self._states if s is not None]
        total = sum(s.total for s in states)
        done = sum(s.done for s in states)
        errors = sum(s.errors for s in states)
        rate = sum(s.rate() for s in states)
        share = done / total if total else 1.0
        now = time.monotonic()
        if self._tty:
            if now - self._drawn < 0.2 and done < total:
                return
            bar = "#" * int(share * 30)
            sys.stderr.write(f"\r  [{bar:<30}] {done}/{total}  {errors} errors  {rate:.1f} items/s")
        elif int(share * 10) > self._last_decile:
            self._last_decile = int(share * 10)
            sys.stderr.write(
                f"  {done}/{total} ({share:.0%})  {errors} errors  {rate:.1f} items/s\n"
            )
        self._drawn = now
        sys.stderr.flush()

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def print_run(loaded: LoadedConfig, config: Path | None, run_id: str, *, as_json: bool) -> None:
    from steward.storage import evals as store

    with database_session(config) as engine:
        row = store.get_run(engine, run_id)
        results = store.load_results(engine, run_id)
    summary = _summary(row, results)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    typer.echo(
        f"{row.id}  {row.status}  {row.dataset}@{row.dataset_version} -> {row.target}  "
        f"x{row.repeats}  {summary['results']} results, {summary['errors']} errors"
    )
    for name, stats in summary["scorers"].items():
        passed = f"  pass rate {stats['pass_rate']:.1%}" if stats["pass_rate"] is not None else ""
        typer.echo(f"  {name:<16} mean {stats['mean']:.3f}{passed}")
    latency = summary["latency_ms"]
    if latency["p50"] is not None:
        typer.echo(f"  latency p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms")
    if summary["cost_usd"] is not None:
        typer.echo(f"  cost ${summary['cost_usd']:.6f}")


def _summary(row: RunRow, typed: Sequence[ItemResult]) -> dict[str, Any]:
    names = sorted({name for r in typed for name in r.scores})
    scorers: dict[str, dict[str, float | None]] = {}
    for name in names:
        # An errored result has no scores and counts as 0, a fail, as compare counts it.
        values = [r.scores[name].value if name in r.scores else 0.0 for r in typed]
        verdicts = [r.scores[name].passed if name in r.scores else False for r in typed]
        known = [v for v in verdicts if v is not None]
        scorers[name] = {
            "mean": statistics.fmean(values) if values else 0.0,
            "pass_rate": sum(known) / len(known) if known else None,
        }
    latencies = sorted(r.latency_ms for r in typed if r.error is None)
    costs = [r.cost_usd for r in typed if r.cost_usd is not None]
    return {
        "id": row.id,
        "status": row.status,
        "dataset": f"{row.dataset}@{row.dataset_version}",
        "target": row.target,
        "repeats": row.repeats,
        "results": len(typed),
        "errors": sum(r.error is not None for r in typed),
        "scorers": scorers,
        "latency_ms": {"p50": _quantile(latencies, 0.5), "p95": _quantile(latencies, 0.95)},
        "cost_usd": sum(costs) if costs else None,
    }


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def compare_runs(
    loaded: LoadedConfig,
    engine: Engine,
    baseline: RunRow,
    candidate: RunRow,
    margin: float | None,
    alpha: float | None,
) -> Comparison:
    from steward.evals.compare import compare
    from steward.storage import evals as store

    if baseline.dataset != candidate.dataset:
        fail(
            f"{baseline.id} ran dataset {baseline.dataset!r} and {candidate.id} ran "
            f"{candidate.dataset!r}: compare runs of the same dataset."
        )
    evals = loaded.config.evals
    try:
        return compare(
            store.load_results(engine, baseline.id),
            store.load_results(engine, candidate.id),
            margin=evals.margin if margin is None else margin,
            alpha=evals.alpha if alpha is None else alpha,
        )
    except ValueError as exc:
        fail(f"cannot compare {baseline.id} and {candidate.id}: {exc}")


def write_reports(
    result: Comparison, *, markdown: Path | None, html: Path | None, junit: Path | None
) -> None:
    from steward.evals import reports

    for path, render in (
        (markdown, reports.render_markdown),
        (html, reports.render_html),
        (junit, reports.render_junit),
    ):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(result), encoding="utf-8")


def run_gate(
    loaded: LoadedConfig,
    config: Path | None,
    *,
    dataset: str,
    baseline: str,
    candidate: str,
    prompt: str | None,
    scorers: Sequence[str],
    repeats: int,
    margin: float | None,
    alpha: float | None,
    reuse_baseline: bool,
    concurrency: int | None,
    base_url: str | None,
    key: str | None,
) -> GateOutcome:
    from steward.storage import evals as store

    gateway = _gateway(loaded, base_url, key)
    refs = [_gate_ref(baseline, prompt, "--baseline"), _gate_ref(candidate, prompt, "--candidate")]
    requests = [
        _request(loaded, dataset, ref, scorers, repeats, None, None, concurrency) for ref in refs
    ]
    with database_session(config) as engine:
        reused = _reusable_baseline(engine, requests[0]) if reuse_baseline else None
        todo = requests[1:] if reused is not None else requests
        rows = asyncio.run(_run_all(engine, gateway, todo))
        base_row, cand_row = (reused, rows[0]) if reused is not None else (rows[0], rows[1])
        result = compare_runs(loaded, engine, base_row, cand_row, margin, alpha)
        passed = result.verdict != "regressed"
        gate = store.add_gate(
            engine,
            prompt_name=cand_row.prompt_name,
            baseline_run=base_row.id,
            candidate_run=cand_row.id,
            candidate_version=cand_row.prompt_version,
            verdict=result.verdict,
            passed=passed,
            summary=result.to_dict(),
        )
    title = f"{base_row.target} ({base_row.id}) vs {cand_row.target} ({cand_row.id})"
    return GateOutcome(result, gate.id, passed, title)


def _gate_ref(ref: str, prompt: str | None, option: str) -> str:
    if not ref.startswith("@"):
        return ref
    if prompt is None:
        fail(f"{option} {ref} names a label or version: say which prompt with --prompt NAME.")
    return f"prompt:{prompt}{ref}"


def _reusable_baseline(engine: Engine, request: RunRequest) -> RunRow | None:
    """The newest finished run of the same dataset version, pinned target, repeats and scorers."""
    from steward.evals.target import resolve_target
    from steward.storage import datasets as dataset_store
    from steward.storage import evals as store

    version = dataset_store.get_version(engine, request.dataset, request.dataset_version).version
    target = resolve_target(engine, request.target).model
    for row in store.list_runs(engine, limit=200):
        if (
            row.status == "finished"
            and (row.dataset, row.dataset_version, row.target) == (request.dataset, version, target)
            and row.repeats == request.repeats
            and list(row.spec.get("scorers", [])) == list(request.scorers)
        ):
            return row
    return None


def comparison_text(result: Comparison) -> str:
    lines = [
        f"verdict: {result.verdict}  (alpha {result.alpha:g}, margin {result.margin:g}, "
        f"{result.confidence:.0%} intervals)"
    ]
    for s in result.scorers:
        test = f"McNemar p={s.p_value:.4f}" if s.mcnemar is not None else f"p={s.p_value:.4f}"
        lines.append(
            f"  {s.scorer:<16} {s.baseline_mean:.3f} -> {s.candidate_mean:.3f}  "
            f"diff {s.difference:+.3f} [{s.ci_low:+.3f}, {s.ci_high:+.3f}]  {test}  n={s.n}  "
            f"{s.verdict}"
        )
        if s.flipped_to_fail:
            lines.append(f"    pass -> fail: {', '.join(s.flipped_to_fail[:10])}")
        if s.flipped_to_pass:
            lines.append(f"    fail -> pass: {', '.join(s.flipped_to_pass[:10])}")
    if result.flaky:
        shown = ", ".join(
            f"{f.item_id} ({f.run}, {f.passes}/{f.repeats})" for f in result.flaky[:10]
        )
        lines.append(f"  flaky: {shown}")
    for name, run in (("baseline", result.baseline), ("candidate", result.candidate)):
        latency = (
            f"p50 {run.latency_p50_ms:.0f} ms" if run.latency_p50_ms is not None else "no latency"
        )
        cost = f", ${run.total_cost_usd:.6f}" if run.total_cost_usd is not None else ""
        lines.append(f"  {name}: {run.items} items, {run.errors} errors, {latency}{cost}")
    return "\n".join(lines) + "\n"
