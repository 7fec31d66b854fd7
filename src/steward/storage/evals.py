"""Evaluation runs, their per-item results and gate verdicts: plain functions over an engine.

Results are written as they arrive, one row per item and repeat, so an interrupted run can be
resumed: the runner skips what is stored without an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import delete, desc, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.errors import NotFoundError
from steward.evals.results import ItemResult, Score
from steward.storage.database import transaction
from steward.storage.tables import eval_gates, eval_results, eval_runs

__all__ = [
    "GateRow",
    "RunRow",
    "add_gate",
    "create_run",
    "finish_run",
    "get_run",
    "latest_gate",
    "list_runs",
    "load_results",
    "passing_gate",
    "save_results",
]

RunStatus = Literal["running", "finished", "failed"]


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    created_at: datetime
    finished_at: datetime | None
    dataset: str
    dataset_version: int
    target: str
    prompt_name: str | None
    prompt_version: int | None
    repeats: int
    spec: dict[str, Any]
    status: str


@dataclass(frozen=True, slots=True)
class GateRow:
    id: str
    created_at: datetime
    prompt_name: str | None
    baseline_run: str
    candidate_run: str
    candidate_version: int | None
    verdict: str
    passed: bool
    summary: dict[str, Any]


def create_run(
    target: Engine | Connection,
    *,
    dataset: str,
    dataset_version: int,
    target_ref: str,
    prompt_name: str | None,
    prompt_version: int | None,
    repeats: int,
    spec: dict[str, Any],
) -> RunRow:
    row = RunRow(
        id="run_" + secrets.token_hex(6),
        created_at=datetime.now(UTC),
        finished_at=None,
        dataset=dataset,
        dataset_version=dataset_version,
        target=target_ref,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        repeats=repeats,
        spec=spec,
        status="running",
    )
    values = {**_fields(row), "spec": orjson.dumps(spec).decode()}
    with transaction(target) as connection:
        connection.execute(eval_runs.insert(), [values])
    return row


def finish_run(target: Engine | Connection, run_id: str, status: RunStatus) -> None:
    with transaction(target) as connection:
        connection.execute(
            update(eval_runs)
            .where(eval_runs.c.id == run_id)
            .values(status=status, finished_at=datetime.now(UTC) if status != "running" else None)
        )


def get_run(target: Engine | Connection, run_id: str) -> RunRow:
    with transaction(target) as connection:
        row = (
            connection.execute(select(eval_runs).where(eval_runs.c.id == run_id)).mappings().first()
        )
    if row is None:
        raise NotFoundError(
            f"There is no evaluation run {run_id!r}; `steward eval list` shows the runs."
        )
    return _run(row)


def list_runs(target: Engine | Connection, *, limit: int = 50) -> list[RunRow]:
    with transaction(target) as connection:
        rows = connection.execute(
            select(eval_runs).order_by(desc(eval_runs.c.created_at)).limit(limit)
        ).mappings()
        return [_run(row) for row in rows]


def save_results(target: Engine | Connection, run_id: str, results: Iterable[ItemResult]) -> None:
    """Store results, replacing any earlier row for the same item and repeat (a retried
    error is overwritten by its success)."""
    batch = list(results)
    if not batch:
        return
    now = datetime.now(UTC)
    with transaction(target) as connection:
        for result in batch:
            connection.execute(
                delete(eval_results).where(
                    eval_results.c.run_id == run_id,
                    eval_results.c.item_id == result.item_id,
                    eval_results.c.repeat == result.repeat,
                )
            )
        connection.execute(eval_results.insert(), [_result_values(run_id, r, now) for r in batch])


def load_results(target: Engine | Connection, run_id: str) -> list[ItemResult]:
    with transaction(target) as connection:
        rows = connection.execute(
            select(eval_results)
            .where(eval_results.c.run_id == run_id)
            .order_by(eval_results.c.item_id, eval_results.c.repeat)
        ).mappings()
        return [_result(row) for row in rows]


def add_gate(
    target: Engine | Connection,
    *,
    prompt_name: str | None,
    baseline_run: str,
    candidate_run: str,
    candidate_version: int | None,
    verdict: str,
    passed: bool,
    summary: dict[str, Any],
) -> GateRow:
    row = GateRow(
        id="gate_" + secrets.token_hex(6),
        created_at=datetime.now(UTC),
        prompt_name=prompt_name,
        baseline_run=baseline_run,
        candidate_run=candidate_run,
        candidate_version=candidate_version,
        verdict=verdict,
        passed=passed,
        summary=summary,
    )
    values = {**_fields(row), "summary": orjson.dumps(summary).decode()}
    with transaction(target) as connection:
        connection.execute(eval_gates.insert(), [values])
    return row


def latest_gate(target: Engine | Connection, prompt_name: str, version: int) -> GateRow | None:
    """The newest gate run whose candidate was this prompt version, passed or not."""
    with transaction(target) as connection:
        row = (
            connection.execute(
                select(eval_gates)
                .where(
                    eval_gates.c.prompt_name == prompt_name,
                    eval_gates.c.candidate_version == version,
                )
                .order_by(desc(eval_gates.c.created_at))
                .limit(1)
            )
            .mappings()
            .first()
        )
    return _gate(row) if row is not None else None


def passing_gate(target: Engine | Connection, prompt_name: str, version: int) -> GateRow | None:
    """The newest gate run for this version if it passed; a later failing run revokes it."""
    gate = latest_gate(target, prompt_name, version)
    return gate if gate is not None and gate.passed else None


def _fields(row: RunRow | GateRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


def _result_values(run_id: str, result: ItemResult, now: datetime) -> dict[str, Any]:
    scores = {
        name: {"value": s.value, "passed": s.passed, "detail": s.detail}
        for name, s in result.scores.items()
    }
    return {
        "run_id": run_id,
        "item_id": result.item_id,
        "repeat": result.repeat,
        "created_at": now,
        "output": result.output,
        "scores": orjson.dumps(scores).decode(),
        "latency_ms": result.latency_ms,
        "cost_usd": result.cost_usd,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "error": result.error,
        "request_id": result.request_id,
    }


def _result(row: RowMapping) -> ItemResult:
    scores = {
        name: Score(value=float(s["value"]), passed=s["passed"], detail=s.get("detail"))
        for name, s in orjson.loads(row["scores"]).items()
    }
    return ItemResult(
        item_id=row["item_id"],
        repeat=int(row["repeat"]),
        scores=scores,
        output=row["output"],
        latency_ms=float(row["latency_ms"]),
        cost_usd=row["cost_usd"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        error=row["error"],
        request_id=row["request_id"],
    )


def _run(row: RowMapping) -> RunRow:
    values = dict(row)
    values["spec"] = orjson.loads(values["spec"])
    return RunRow(**values)


def _gate(row: RowMapping) -> GateRow:
    values = dict(row)
    values["summary"] = orjson.loads(values["summary"])
    values["passed"] = bool(values["passed"])
    return GateRow(**values)
