"""`steward loadtest`: ramp load through a running gateway and report rates, latency and cost."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, config_path, fail, load

if TYPE_CHECKING:
    from steward.config.loading import LoadedConfig
    from steward.loadtest.calls import CostEstimator
    from steward.loadtest.report import LoadReport
    from steward.loadtest.runner import Progress
    from steward.types import JSONObject

__all__ = ["loadtest"]


class ArrivalsChoice(StrEnum):
    poisson = "poisson"
    uniform = "uniform"


_Target = Annotated[str, typer.Option("--target", help="The public model to call.")]
_Rps = Annotated[
    float | None, typer.Option(help="Open loop: requests per second, sent on schedule.", min=0)
]
_Concurrency = Annotated[
    int | None, typer.Option(help="Closed loop: requests kept in flight at once.", min=1)
]
_Duration = Annotated[
    float, typer.Option(help="Seconds at the full rate or concurrency, after the ramp.", min=0)
]
_Ramp = Annotated[float, typer.Option(help="Seconds of linear ramp-up from zero first.", min=0)]
_Arrivals = Annotated[ArrivalsChoice, typer.Option(help="Open-loop arrival process.")]
_MaxInFlight = Annotated[
    int, typer.Option(help="Open loop: refuse (and count) arrivals beyond this many.", min=1)
]
_Prompt = Annotated[str | None, typer.Option(help="The user message of every request.")]
_Messages = Annotated[
    Path | None,
    typer.Option(help="JSONL file of requests to cycle through: {messages: [...]} per line."),
]
_MaxTokens = Annotated[int | None, typer.Option(help="max_tokens of every request.", min=1)]
_Stream = Annotated[bool, typer.Option(help="Stream responses and measure time to first token.")]
_Monthly = Annotated[
    int, typer.Option(help="Monthly request volume the cost projection assumes.", min=0)
]
_BaseUrl = Annotated[
    str | None, typer.Option(help="The gateway's URL (default: the config's server host and port).")
]
_Key = Annotated[
    str | None,
    typer.Option(help="API key to call with.", envvar="STEWARD_API_KEY", show_default=False),
]
_Timeout = Annotated[float, typer.Option(help="Per-request timeout in seconds.", min=0.001)]
_Seed = Annotated[int | None, typer.Option(help="Seed of the Poisson arrivals.")]
_Json = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
_Output = Annotated[Path | None, typer.Option(help="Also write the JSON report to this file.")]


def loadtest(
    target: _Target,
    rps: _Rps = None,
    concurrency: _Concurrency = None,
    duration: _Duration = 30.0,
    ramp: _Ramp = 0.0,
    arrivals: _Arrivals = ArrivalsChoice.poisson,
    max_in_flight: _MaxInFlight = 1000,
    prompt: _Prompt = None,
    messages: _Messages = None,
    max_tokens: _MaxTokens = None,
    stream: _Stream = False,
    monthly_requests: _Monthly = 1_000_000,
    base_url: _BaseUrl = None,
    key: _Key = None,
    timeout: _Timeout = 60.0,
    seed: _Seed = None,
    as_json: _Json = False,
    output: _Output = None,
    config: ConfigOption = None,
) -> None:
    """Ramp load through a running gateway: throughput, p50/p95/p99 latency, errors by status,
    tokens, cost per 1,000 requests and a monthly projection."""
    from steward.loadtest.calls import run_through_gateway
    from steward.loadtest.plan import LoadPlan
    from steward.loadtest.report import build_report

    if not key:
        fail("no API key: pass --key or set STEWARD_API_KEY (`steward keys create --name load`)")
    url, loaded = _gateway(base_url, config)
    pool = _pool(target, prompt, messages, max_tokens)
    try:
        plan = LoadPlan(duration, ramp, rps, concurrency, arrivals.value, max_in_flight, seed)
    except ValueError as exc:
        fail(str(exc))
    progress = _print_progress if sys.stderr.isatty() else None
    result = run_through_gateway(
        plan,
        pool,
        base_url=url,
        api_key=key,
        stream=stream,
        timeout_s=timeout,
        estimate=_estimator(loaded),
        on_progress=progress,
    )
    if progress is not None:
        typer.echo("", err=True)
    report = build_report(
        result, model=target, base_url=url, stream=stream, monthly_requests=monthly_requests
    )
    _emit(report, as_json=as_json, output=output)


def _emit(report: LoadReport, *, as_json: bool, output: Path | None) -> None:
    """Print the report and write its JSON to `output`; exit 1 if not one request succeeded,
    130 if the run was interrupted."""
    from steward.loadtest.render import render_text

    body = json.dumps(report.to_json(), indent=2)
    if output is not None:
        try:
            output.write_text(body + "\n")
        except OSError as exc:
            typer.echo(f"warning: cannot write {output}: {exc.strerror}", err=True)
    typer.echo(body if as_json else "\n".join(render_text(report)))
    overall = report.overall
    if overall is not None and overall.requests and not overall.ok:
        fail("no request succeeded; see the errors above")
    if report.interrupted:
        raise typer.Exit(130)  # what a shell reports for Ctrl-C, so a script stops too


def _gateway(base_url: str | None, option: Path | None) -> tuple[str, LoadedConfig | None]:
    """The URL to call, and the config (for prices) when there is one to read."""
    if base_url is not None:
        has_config = option is not None or config_path(None).exists()
        return base_url.rstrip("/"), load(option) if has_config else None
    loaded = load(option)
    host, port = loaded.config.server.host, loaded.config.server.port
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}", loaded


def _pool(
    model: str, prompt: str | None, messages: Path | None, max_tokens: int | None
) -> list[JSONObject]:
    from steward.errors import StewardError
    from steward.loadtest import pool

    if prompt is not None and messages is not None:
        fail("give --prompt or --messages, not both")
    try:
        if messages is not None:
            return pool.from_jsonl(messages, model, max_tokens=max_tokens)
        return pool.from_prompt(model, prompt or pool.DEFAULT_PROMPT, max_tokens=max_tokens)
    except StewardError as exc:
        fail(exc.message)


def _estimator(loaded: LoadedConfig | None) -> CostEstimator | None:
    if loaded is None:
        return None
    from steward.costs.pricing import Pricing
    from steward.loadtest.calls import PriceEstimator

    return PriceEstimator(Pricing.from_config(loaded.config))


def _print_progress(p: Progress) -> None:
    typer.echo(
        f"\r{p.elapsed_s:6.1f} s  sent {p.sent}  ok {p.ok}  failed {p.errors}  "
        f"in flight {p.in_flight}  dropped {p.refused}   ",
        err=True,
        nl=False,
    )
