"""`steward budgets create|list|delete`: spend limits per key, app, team or model."""

from __future__ import annotations

from typing import Annotated

import typer

from steward.cli.common import ConfigOption, admin_session

app = typer.Typer(help="Create, list and delete budgets.", no_args_is_help=True)


@app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="key, app, team or model.")],
    scope_id: Annotated[str, typer.Option("--id", help="The key, app or team id, or model.")],
    limit_usd: Annotated[float, typer.Option("--limit-usd", min=0.000001)],
    period: Annotated[str, typer.Option(help="daily, monthly or total.")] = "monthly",
    thresholds: Annotated[
        str, typer.Option(help="Soft alert thresholds, fractions of the limit.")
    ] = "0.5,0.8,1.0",
    team_id: Annotated[
        str | None, typer.Option("--team", help="For a model budget: only this team's calls.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create a budget: a hard cap (429 once reached) with soft alert thresholds."""
    marks = tuple(float(t) for t in thresholds.split(",") if t.strip())
    with admin_session(config) as admin:
        row = admin.create_budget(scope, scope_id, period, limit_usd, marks, team_id)
    typer.echo(f"created budget {row.id}: {row.period} ${row.limit_usd:g} on {scope} {scope_id}.")


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """List budgets with their spend in the current period."""
    with admin_session(config) as admin:
        rows = admin.list_budgets()
        spent = {r.id: admin.budget_spend(r)[0] for r in rows}
    for row in rows:
        used = spent[row.id]
        typer.echo(
            f"{row.id}  {row.scope} {row.scope_id}  {row.period}  ${used:.4f} of "
            f"${row.limit_usd:g} ({used / row.limit_usd:.0%})"
        )


@app.command("delete")
def delete(budget_id: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Delete a budget."""
    with admin_session(config) as admin:
        row = admin.delete_budget(budget_id)
    typer.echo(f"deleted budget {row.id}.")
