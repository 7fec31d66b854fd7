"""The root `steward` command and its groups."""

from __future__ import annotations

import typer

from steward.cli import (
    alerts_cmd,
    audit_cmd,
    budgets_cmd,
    config_cmd,
    costs_cmd,
    data_cmd,
    datasets_cmd,
    drift_cmd,
    escalations_cmd,
    eval_cmd,
    init_cmd,
    keys_cmd,
    loadtest_cmd,
    prompts_cmd,
    redteam_cmd,
    serve_cmd,
    teams_cmd,
)

app = typer.Typer(
    name="steward",
    help="Steward: an OpenAI-compatible gateway that runs your LLM app for real.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_cmd.serve)
app.command("init")(init_cmd.init)
app.command("costs")(costs_cmd.costs)
app.command("drift")(drift_cmd.drift)
app.command("loadtest")(loadtest_cmd.loadtest)
app.command("redteam")(redteam_cmd.redteam)
app.add_typer(config_cmd.app, name="config")
app.add_typer(teams_cmd.teams_app, name="teams")
app.add_typer(teams_cmd.apps_app, name="apps")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(budgets_cmd.app, name="budgets")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(alerts_cmd.app, name="alerts")
app.add_typer(config_cmd.db_app, name="db")
app.add_typer(data_cmd.app, name="data")
app.add_typer(datasets_cmd.app, name="datasets")
app.add_typer(prompts_cmd.app, name="prompts")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(escalations_cmd.app, name="escalations")


def main() -> None:
    app()
