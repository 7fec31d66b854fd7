"""`steward redteam --target MODEL`: built-in attack suites through a running gateway."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, fail, load

if TYPE_CHECKING:
    from steward.redteam.harness import Probe
    from steward.redteam.report import Report
    from steward.redteam.runner import Outcome, Settings

__all__ = ["redteam"]


Target = Annotated[str, typer.Option("--target", "-t", help="The public model to attack.")]
BaseUrl = Annotated[
    str | None,
    typer.Option(help="The gateway (default: the host and port of the config's server section)."),
]
Key = Annotated[
    str | None, typer.Option(help="API key (default: $STEWARD_API_KEY).", show_default=False)
]
Categories = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated, of direct-injection, indirect-injection, jailbreak, extraction, "
        "pii, harmful (default: all)."
    ),
]
Limit = Annotated[
    int | None, typer.Option(min=1, help="At most N attacks per category, sampled by seed.")
]
Concurrency = Annotated[int, typer.Option(min=1, max=64, help="Calls in flight.")]
Seed = Annotated[int | None, typer.Option(help="Seed for sampling and secrets (default: random).")]
System = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="The app's system prompt, from a file."),
]
Judge = Annotated[
    str | None, typer.Option(help="A model that grades compliance (harmful, jailbreak).")
]
MaxTokens = Annotated[int, typer.Option(min=1, help="Answer length limit.")]
Temperature = Annotated[float | None, typer.Option(min=0.0, help="Sampling temperature.")]
Examples = Annotated[int, typer.Option(min=0, help="Worst examples per category.")]
FailAbove = Annotated[
    float | None,
    typer.Option(min=0.0, max=1.0, help="Exit 1 if a category's success rate is above this."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
Output = Annotated[
    Path | None, typer.Option(help="Also write the report as Markdown to this file.")
]


def redteam(
    target: Target,
    base_url: BaseUrl = None,
    key: Key = None,
    categories: Categories = None,
    limit: Limit = None,
    concurrency: Concurrency = 4,
    seed: Seed = None,
    system: System = None,
    judge: Judge = None,
    max_tokens: MaxTokens = 256,
    temperature: Temperature = None,
    examples: Examples = 3,
    fail_above: FailAbove = None,
    as_json: AsJson = False,
    output: Output = None,
    config: ConfigOption = None,
) -> None:
    """Attack MODEL with prompt injection, jailbreaks, extraction, PII exfiltration and harmful
    requests; print success rates per category and the worst examples."""
    import random

    from steward.redteam.attacks import select
    from steward.redteam.harness import build_probes
    from steward.redteam.report import build_report
    from steward.redteam.runner import Settings

    api_key = key or os.environ.get("STEWARD_API_KEY")
    if not api_key:
        fail(
            "no API key: pass --key or set STEWARD_API_KEY (steward keys create --name redteam)", 2
        )
    url = base_url or _configured_url(config)
    try:
        suites = select(categories.split(",") if categories else None)
    except ValueError as exc:
        fail(str(exc), 2)
    run_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    app_prompt = system.read_text(encoding="utf-8") if system is not None else None
    probes = build_probes(suites, seed=run_seed, limit=limit, app_prompt=app_prompt)
    settings = Settings(target, max_tokens, temperature, concurrency, judge)
    outcomes = _run(url, api_key, probes, settings)
    report = build_report(
        outcomes, suites, model=target, base_url=url, seed=run_seed, judge=judge, examples=examples
    )
    _emit(report, as_json=as_json, output=output)
    _exit(report, fail_above)


def _configured_url(config: Path | None) -> str:
    server = load(config).config.server
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(server.host, server.host)
    return f"http://[{host}]:{server.port}" if ":" in host else f"http://{host}:{server.port}"


def _run(url: str, api_key: str, probes: list[Probe], settings: Settings) -> list[Outcome]:
    import asyncio

    from steward.client.gateway import GatewayClient
    from steward.redteam.runner import RunAborted, run

    progress = _Progress(len(probes)) if sys.stderr.isatty() else None

    async def main() -> list[Outcome]:
        async with GatewayClient(url, api_key) as client:
            return await run(probes, client, settings, on_outcome=progress)

    try:
        outcomes = asyncio.run(main())
    except RunAborted as exc:
        fail(f"red team stopped: {exc.message}", 2)
    finally:
        if progress is not None:
            typer.echo("", err=True)
    answered = [o for o in outcomes if o.status != "error"]
    if outcomes and not answered:
        fail(f"no attack got an answer; the first error: {outcomes[0].error}", 2)
    return outcomes


class _Progress:
    """`12/134 done, 3 succeeded` on one terminal line."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.succeeded = total, 0, 0

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        self.succeeded += outcome.status == "success"
        typer.echo(
            f"\r{self.done}/{self.total} done, {self.succeeded} succeeded", nl=False, err=True
        )


def _emit(report: Report, *, as_json: bool, output: Path | None) -> None:
    from steward.redteam.formats import as_markdown, as_text

    if output is not None:
        output.write_text(as_markdown(report), encoding="utf-8")
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else as_text(report))


def _exit(report: Report, fail_above: float | None) -> None:
    if fail_above is None:
        return
    over = report.exceeding(fail_above)
    for category in over:
        typer.echo(
            f"fail: {category.name} success rate {category.rate:.1%} is above {fail_above:.1%}",
            err=True,
        )
    if over:
        raise typer.Exit(1)
