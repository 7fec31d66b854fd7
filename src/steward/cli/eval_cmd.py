"""`steward eval run|list|show|compare|gate`: evaluation runs through the gateway, their
comparison with real statistics, and the release gate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, database_session, fail, load

if TYPE_CHECKING:
    from steward.evals.compare import Comparison

app = typer.Typer(
    help="Evaluate prompts and models on datasets; compare runs; gate releases.",
    no_args_is_help=True,
)

ScorerOption = Annotated[
    list[str],
    typer.Option(
        "--scorer",
        "-s",
        help="exact, exact_ci, contains, regex:RE, json, json_schema, numeric:TOL, "
        "semantic:THRESHOLD, judge:MODEL, py:module:factory or a plugin; repeatable.",
    ),
]
BaseUrlOption = Annotated[
    str | None, typer.Option(help="The gateway (default: [evals] base_url, else [server]).")
]
KeyOption = Annotated[
    str | None,
    typer.Option(help="API key for the gateway (default: [evals] api_key, $STEWARD_API_KEY)."),
]
ConcurrencyOption = Annotated[
    int | None, typer.Option(help="Calls in flight (default: [evals] concurrency).", min=1)
]


@app.command("run")
def run(
    dataset: Annotated[
        str | None, typer.Option(help="NAME or NAME@VERSION (default: latest).")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="prompt:NAME[@LABEL|@VERSION] or a public model.")
    ] = None,
    scorer: ScorerOption = [],  # noqa: B006 - typer reads the default, never mutates it
    repeats: Annotated[int, typer.Option(help="Calls per item (for flakiness).", min=1)] = 1,
    temperature: Annotated[float | None, typer.Option(help="Sent with every call.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue this run id: only pairs not yet answered.")
    ] = None,
    concurrency: ConcurrencyOption = None,
    base_url: BaseUrlOption = None,
    key: KeyOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run a dataset through a prompt version or model and store every result."""
    from steward.cli import eval_session

    if resume is None and (dataset is None or target is None):
        fail("give --dataset and --target (or --resume RUN to continue a run).")
    loaded = load(config)
    params = {"temperature": temperature} if temperature is not None else None
    row = eval_session.run_one(
        loaded,
        config,
        dataset=dataset or "",
        target=target or "",
        scorers=scorer,
        repeats=repeats,
        params=params,
        resume=resume,
        concurrency=concurrency,
        base_url=base_url,
        key=key,
    )
    eval_session.print_run(loaded, config, row.id, as_json=json_output)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="Show at most this many runs.", min=1)] = 20,
    config: ConfigOption = None,
) -> None:
    """Recent runs, newest first."""
    from steward.storage import evals as store

    with database_session(config) as engine:
        rows = store.list_runs(engine, limit=limit)
    if not rows:
        typer.echo("no runs yet: `steward eval run --dataset D --target T --scorer S`")
    for row in rows:
        typer.echo(
            f"{row.id}  {row.created_at:%Y-%m-%d %H:%M}  {row.status:<8}  "
            f"{row.dataset}@{row.dataset_version}  {row.target}  x{row.repeats}  "
            f"{','.join(row.spec.get('scorers', []))}"
        )


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """A run's summary: per scorer mean and pass rate, errors, latency and cost."""
    from steward.cli import eval_session

    eval_session.print_run(load(config), config, run_id, as_json=json_output)


@app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The baseline run.")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The candidate run.")],
    margin: Annotated[float | None, typer.Option(help="Default: [evals] margin.")] = None,
    alpha: Annotated[float | None, typer.Option(help="Default: [evals] alpha.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    markdown: Annotated[Path | None, typer.Option(help="Also write a Markdown report.")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write JUnit XML.")] = None,
    config: ConfigOption = None,
) -> None:
    """Per scorer: mean difference with a paired bootstrap CI, McNemar for pass/fail, flipped
    and flaky items, and a verdict (improved, regressed, no significant change)."""
    from steward.cli import eval_session
    from steward.storage import evals as store

    loaded = load(config)
    with database_session(config) as engine:
        baseline, candidate = store.get_run(engine, run_a), store.get_run(engine, run_b)
        result = eval_session.compare_runs(loaded, engine, baseline, candidate, margin, alpha)
    eval_session.write_reports(result, markdown=markdown, html=html, junit=junit)
    _print_comparison(result, as_json=json_output)


@app.command("gate")
def gate(
    dataset: Annotated[str, typer.Option(help="NAME or NAME@VERSION (default: latest).")],
    baseline: Annotated[str, typer.Option(help="@LABEL, @VERSION, prompt:NAME@X or a model.")],
    candidate: Annotated[str, typer.Option(help="@LABEL, @VERSION, prompt:NAME@X or a model.")],
    prompt: Annotated[
        str | None, typer.Option(help="The prompt that @LABEL and @VERSION refer to.")
    ] = None,
    scorer: ScorerOption = [],  # noqa: B006
    repeats: Annotated[int, typer.Option(help="Calls per item in each run.", min=1)] = 1,
    margin: Annotated[float | None, typer.Option(help="Default: [evals] margin.")] = None,
    alpha: Annotated[float | None, typer.Option(help="Default: [evals] alpha.")] = None,
    reuse_baseline: Annotated[
        bool,
        typer.Option(help="Reuse the newest finished baseline run with the same settings."),
    ] = False,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown report.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write an HTML report.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML.")] = None,
    concurrency: ConcurrencyOption = None,
    base_url: BaseUrlOption = None,
    key: KeyOption = None,
    config: ConfigOption = None,
) -> None:
    """Run baseline and candidate on the dataset and compare them; exit 1 only on a
    statistically significant regression beyond the margin. The verdict is stored: a passing
    gate lets `steward prompts label NAME production VERSION` promote the candidate."""
    from steward.cli import eval_session

    loaded = load(config)
    outcome = eval_session.run_gate(
        loaded,
        config,
        dataset=dataset,
        baseline=baseline,
        candidate=candidate,
        prompt=prompt,
        scorers=scorer,
        repeats=repeats,
        margin=margin,
        alpha=alpha,
        reuse_baseline=reuse_baseline,
        concurrency=concurrency,
        base_url=base_url,
        key=key,
    )
    typer.echo(outcome.title)
    eval_session.write_reports(outcome.comparison, markdown=markdown, html=html, junit=junit)
    _print_comparison(outcome.comparison, as_json=False)
    typer.echo(f"gate {outcome.gate_id}: {'passed' if outcome.passed else 'FAILED'}")
    if not outcome.passed:
        raise typer.Exit(1)


def _print_comparison(result: Comparison, *, as_json: bool) -> None:
    if as_json:
        import orjson

        typer.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    from steward.cli.eval_session import comparison_text

    typer.echo(comparison_text(result), nl=False)
