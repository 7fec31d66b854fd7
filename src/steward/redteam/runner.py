"""Runs probes through the gateway, a few at a time, and judges each answer.

Each attempt ends as one of:

- `success`: a detector of the probe's goals fired (the attack worked);
- `resisted`: the model answered and no detector fired;
- `blocked`: the gateway (or the provider behind it) refused the call with a 4xx, as a guardrail
  would; it counts as an attempt that did not succeed;
- `error`: no answer (network, 5xx, or 408/429 after retries); left out of the rates.

A 401, 403 or 404 means the key or the model name is wrong, so every attempt would fail the
same way: the run stops with `RunAborted` instead of reporting them as blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypeAlias

from steward.client.gateway import GatewayError, Reply
from steward.redteam.detectors import Finding, detect
from steward.redteam.harness import Probe
from steward.redteam.judge import judge_body, parse_verdict
from steward.types import JSONObject

__all__ = ["ChatClient", "Outcome", "RunAborted", "Settings", "Status", "run"]

Status: TypeAlias = Literal["success", "resisted", "blocked", "error"]

_FATAL = frozenset({401, 403, 404})
_HEADERS = {"cache-control": "no-store"}
_USER = "steward-redteam"


class ChatClient(Protocol):
    async def chat(
        self, body: JSONObject, *, headers: Mapping[str, str] | None = None
    ) -> Reply: ...


class RunAborted(Exception):
    """The gateway refused the key or the model: no attack can run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Settings:
    """How to call the target (and the judge, if any)."""

    model: str
    max_tokens: int = 256
    temperature: float | None = None
    concurrency: int = 4
    judge: str | None = None
    retries: int = 2
    retry_delay_s: float = 0.5


@dataclass(frozen=True, slots=True)
class Outcome:
    """One probe's result: the answer, the findings that made it a success, the judge's word."""

    probe: Probe
    status: Status
    answer: str = ""
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    http_status: int | None = 200
    latency_ms: float = 0.0
    judge: str | None = None


async def run(
    probes: Sequence[Probe],
    client: ChatClient,
    settings: Settings,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Every probe's outcome, in the probes' order; raise `RunAborted` on a fatal refusal."""
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(probe: Probe) -> Outcome:
        async with gate:
            outcome = await _attempt(probe, client, settings)
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(probe)) for probe in probes]
    except* RunAborted as aborted:
        raise aborted.exceptions[0] from None
    return [task.result() for task in tasks]


async def _attempt(probe: Probe, client: ChatClient, settings: Settings) -> Outcome:
    body: JSONObject = {
        "model": settings.model,
        "messages": [dict(m) for m in probe.messages],
        "max_tokens": settings.max_tokens,
        "user": _USER,
    }
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    try:
        reply = await _call(client, body, settings)
    except GatewayError as exc:
        status: Status = "error" if exc.retryable else "blocked"
        return Outcome(
            probe, status, error=exc.message, http_status=exc.status, latency_ms=exc.latency_ms
        )
    answer = reply.text
    findings = tuple(detect(probe, answer))
    outcome = Outcome(probe, "resisted", answer, findings, latency_ms=reply.latency_ms)
    if settings.judge is not None and "compliance" in probe.goals and answer.strip():
        outcome = await _judged(outcome, client, settings)
    return replace(outcome, status="success" if outcome.findings else "resisted")


async def _judged(outcome: Outcome, client: ChatClient, settings: Settings) -> Outcome:
    """The outcome with the judge's verdict in place of the compliance heuristic's, if it gave one."""
    assert settings.judge is not None and outcome.probe.attack.request is not None
    body = judge_body(settings.judge, outcome.probe.attack.request.text, outcome.answer)
    try:
        text = (await _call(client, body, settings, what=f"judge {settings.judge}")).text
    except GatewayError as exc:
        return replace(outcome, judge=f"failed: {exc.message}")
    verdict = parse_verdict(text)
    if verdict is None:
        return replace(outcome, judge=f"no verdict in {' '.join(text.split())[:80]!r}")
    heuristic = [f for f in outcome.findings if f.detector == "compliance"]
    others = tuple(f for f in outcome.findings if f.detector != "compliance")
    said = "complied" if verdict else "refused"
    note = said if bool(heuristic) == verdict else f"{said} (the heuristic disagreed)"
    findings = (*others, Finding("judge", said)) if verdict else others
    return replace(outcome, findings=findings, judge=note)


async def _call(
    client: ChatClient, body: JSONObject, settings: Settings, *, what: str = "the target"
) -> Reply:
    """One chat call, retried on 408, 429, 5xx and network errors; fatal refusals abort."""
    for tries in range(settings.retries + 1):
        try:
            return await client.chat(body, headers=_HEADERS)
        except GatewayError as exc:
            if exc.status in _FATAL:
                raise RunAborted(f"{what} ({body['model']}): {exc.message}") from None
            if not exc.retryable or tries == settings.retries:
                raise
        await asyncio.sleep(settings.retry_delay_s * 2**tries)
    raise AssertionError("unreachable")
