"""What the request path knows of tenancy, loaded from the database in one read: principals
(with the quotas of their key, app and team) and budgets (with the spend of their period)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from steward.auth.keyring import KeyRing, Principal, Quota
from steward.limits.budgets import BudgetBook, Crossing, ThresholdWatch, period_of
from steward.storage import budgets, keys, teams
from steward.storage.database import transaction
from steward.storage.keys import ApiKeyRow

__all__ = ["Directory", "DirectoryData", "load_directory", "principal_of"]


@dataclass(frozen=True, slots=True)
class DirectoryData:
    principals: list[tuple[str, Principal]]
    budgets: BudgetBook


def load_directory(engine: Engine, now: datetime) -> DirectoryData:
    with transaction(engine) as connection:
        active = keys.load_active_keys(connection, now)
        team_rows = {t.id: t for t in teams.list_teams(connection)}
        app_rows = {a.id: a for a in teams.list_apps(connection)}
        budget_rows = budgets.list_budgets(connection)
        spent = {
            b.id: budgets.period_spend(connection, b, period_of(b.period, now).starts)
            for b in budget_rows
        }
    principals = [
        (key_hash, principal_of(row, team_rows, app_rows)) for key_hash, row in active.items()
    ]
    return DirectoryData(principals, BudgetBook(budget_rows, spent, now))


def principal_of(
    row: ApiKeyRow, team_rows: Mapping[str, teams.TeamRow], app_rows: Mapping[str, teams.AppRow]
) -> Principal:
    quotas: list[Quota] = []
    if row.rpm or row.tpm:
        quotas.append(Quota("key", row.id, f"key {row.name}", row.rpm, row.tpm))
    app = app_rows.get(row.app_id) if row.app_id else None
    if app is not None and (app.rpm or app.tpm):
        quotas.append(Quota("app", app.id, f"app {app.name}", app.rpm, app.tpm))
    team_id = row.team_id or (app.team_id if app else None)
    team = team_rows.get(team_id) if team_id else None
    if team is not None and (team.rpm or team.tpm):
        quotas.append(Quota("team", team.id, f"team {team.name}", team.rpm, team.tpm))
    return Principal(
        key_id=row.id,
        name=row.name,
        role=row.role,
        expires_at=row.expires_at,
        team_id=team_id,
        app_id=row.app_id,
        quotas=tuple(quotas),
    )


class Directory:
    """The in-memory key ring and budget book, reloaded whole by the refresher thread."""

    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        on_crossed: Callable[[list[Crossing]], None] | None = None,
    ) -> None:
        self._engine = engine
        self.keyring = keyring
        self.budgets = BudgetBook.empty()
        self._watch = ThresholdWatch()
        self._on_crossed = on_crossed

    def reload(self) -> None:
        now = datetime.now(UTC)
        data = load_directory(self._engine, now)
        self.keyring.replace(data.principals)
        self.budgets = data.budgets
        crossed = self._watch.check(data.budgets, now)
        if crossed and self._on_crossed is not None:
            self._on_crossed(crossed)

    def budget_book(self) -> BudgetBook:
        return self.budgets
