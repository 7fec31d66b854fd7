"""Admin actions on teams, apps, keys and budgets: permission, tenant scope, change and audit
entry, in one transaction. The admin API and the CLI both call these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection, Engine

from steward.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from steward.limits.budgets import PeriodWindow, period_of
from steward.storage import audit, budgets, keys, request_queries, teams
from steward.storage.budgets import BudgetRow
from steward.storage.database import transaction
from steward.storage.keys import ApiKeyRow
from steward.storage.request_queries import RequestDetail, RequestPage, RequestQuery
from steward.storage.teams import AppRow, TeamRow
from steward.tenancy.roles import PERSON_ROLES, ROLES, Actor, may_grant, require

__all__ = ["Admin", "public"]

T = TypeVar("T")


def public(row: object) -> dict[str, Any]:
    """A row as JSON-able data; key hashes never leave the database."""
    if not is_dataclass(row) or isinstance(row, type):
        raise TypeError(f"not a row: {row!r}")
    data = asdict(row)
    data.pop("key_hash", None)
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = value.isoformat()
        elif isinstance(value, tuple):
            data[name] = list(value)
    return data


class Admin:
    """One actor's view of the organisation: every read is scoped, every write audited."""

    def __init__(self, engine: Engine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    # -- helpers ---------------------------------------------------------------------------

    def _scope(self) -> str | None:
        """None for organisation-wide actors, else the actor's team."""
        return None if self.actor.org_wide else self.actor.team_id or "\0none"

    def _audit(
        self,
        connection: Connection,
        action: str,
        target: tuple[str, str | None],
        team_id: str | None,
        before: object | None,
        after: object | None,
    ) -> None:
        audit.append(
            connection,
            audit.AuditEntry(
                actor_id=self.actor.id,
                actor=self.actor.name,
                action=action,
                target_type=target[0],
                target_id=target[1],
                team_id=team_id,
                before=public(before) if before is not None else None,
                after=public(after) if after is not None else None,
            ),
        )

    def _visible(
        self, kind: str, ident: str, found: T | None, team_id: Callable[[T], str | None]
    ) -> T:
        """The row, if it exists and the actor may see it; else the same 404 either way."""
        if found is None or not self.actor.sees(team_id(found)):
            raise NotFoundError(f"No {kind} has the id {ident!r} (or it belongs to another team).")
        return found

    def _team_for_write(self, team_id: str | None) -> str:
        if self.actor.org_wide:
            if not team_id:
                raise InvalidRequestError("Say which team: `team_id` is required.", param="team_id")
            return self.team(team_id).id
        if team_id and team_id != self.actor.team_id:
            raise NotFoundError(f"No team has the id {team_id!r} (or it belongs to another team).")
        own: str | None = self.actor.team_id
        if own is None:
            raise PermissionDeniedError("This key belongs to no team; ask an admin.")
        return own

    # -- teams -----------------------------------------------------------------------------

    def list_teams(self) -> list[TeamRow]:
        require(self.actor, "teams:read")
        return teams.list_teams(self.engine, team_id=self._scope())

    def team(self, team_id: str) -> TeamRow:
        require(self.actor, "teams:read")
        found = teams.get_team(self.engine, team_id)
        return self._visible("team", team_id, found, lambda t: t.id)

    def create_team(self, name: str, rpm: int | None = None, tpm: int | None = None) -> TeamRow:
        require(self.actor, "teams:write")
        with transaction(self.engine) as c:
            row = teams.create_team(c, name=name, rpm=rpm, tpm=tpm)
            self._audit(c, "team.create", ("team", row.id), row.id, None, row)
        return row

    def update_team(self, team_id: str, **changes: Any) -> TeamRow:
        require(self.actor, "teams:write")
        before = self.team(team_id)
        with transaction(self.engine) as c:
            teams.update_team(c, team_id, **changes)
            after = teams.get_team(c, team_id)
            self._audit(c, "team.update", ("team", team_id), team_id, before, after)
        assert after is not None
        return after

    def delete_team(self, team_id: str) -> TeamRow:
        require(self.actor, "teams:write")
        before = self.team(team_id)
        with transaction(self.engine) as c:
            if teams.list_apps(c, team_id=team_id) or _active_keys(c, team_id):
                raise InvalidRequestError(
                    f"Team {team_id} still has apps or active keys; delete or revoke them first.",
                    code="not_empty",
                )
            teams.delete_team(c, team_id)
            self._audit(c, "team.delete", ("team", team_id), team_id, before, None)
        return before

    # -- apps ------------------------------------------------------------------------------

    def list_apps(self) -> list[AppRow]:
        require(self.actor, "apps:read")
        return teams.list_apps(self.engine, team_id=self._scope())

    def app(self, app_id: str) -> AppRow:
        require(self.actor, "apps:read")
        return self._visible("app", app_id, teams.get_app(self.engine, app_id), lambda a: a.team_id)

    def create_app(
        self, name: str, team_id: str | None = None, rpm: int | None = None, tpm: int | None = None
    ) -> AppRow:
        require(self.actor, "apps:write")
        team = self._team_for_write(team_id)
        with transaction(self.engine) as c:
            row = teams.create_app(c, team_id=team, name=name, rpm=rpm, tpm=tpm)
            self._audit(c, "app.create", ("app", row.id), team, None, row)
        return row

    def update_app(self, app_id: str, **changes: Any) -> AppRow:
        require(self.actor, "apps:write")
        before = self.app(app_id)
        with transaction(self.engine) as c:
            teams.update_app(c, app_id, **changes)
            after = teams.get_app(c, app_id)
            self._audit(c, "app.update", ("app", app_id), before.team_id, before, after)
        assert after is not None
        return after

    def delete_app(self, app_id: str) -> AppRow:
        require(self.actor, "apps:write")
        before = self.app(app_id)
        with transaction(self.engine) as c:
            live = [k for k in keys.list_keys(c, app_id=app_id) if k.active(datetime.now(UTC))]
            if live:
                raise InvalidRequestError(
                    f"App {app_id} still has {len(live)} active key(s); revoke them first.",
                    code="not_empty",
                )
            teams.delete_app(c, app_id)
            self._audit(c, "app.delete", ("app", app_id), before.team_id, before, None)
        return before

    # -- keys ------------------------------------------------------------------------------

    def list_keys(self) -> list[ApiKeyRow]:
        require(self.actor, "keys:read")
        return keys.list_keys(self.engine, team_id=self._scope())

    def key(self, key_id: str) -> ApiKeyRow:
        require(self.actor, "keys:read")
        return self._visible("key", key_id, keys.get_key(self.engine, key_id), lambda k: k.team_id)

    def create_key(
        self,
        name: str,
        role: str = "app",
        *,
        team_id: str | None = None,
        app_id: str | None = None,
        expires_in_days: float | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
    ) -> tuple[ApiKeyRow, str]:
        require(self.actor, "keys:write")
        team, app = self._key_owner(role, team_id, app_id)
        if not may_grant(self.actor, role):
            raise PermissionDeniedError(
                f"A key with role {self.actor.role!r} may not create {role!r} keys."
            )
        expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
        with transaction(self.engine) as c:
            row, secret = keys.create_key(
                c,
                name=name,
                role=role,
                expires_at=expires,
                team_id=team,
                app_id=app,
                rpm=rpm,
                tpm=tpm,
            )
            self._audit(c, "key.create", ("key", row.id), team, None, row)
        return row, secret

    def _key_owner(
        self, role: str, team_id: str | None, app_id: str | None
    ) -> tuple[str | None, str | None]:
        if role not in ROLES:
            raise InvalidRequestError(
                f"Unknown role {role!r}; use one of: {', '.join(ROLES)}.", param="role"
            )
        if role == "app":
            if app_id:
                app = self.app(app_id)
                return app.team_id, app.id
            if self.actor.org_wide and not team_id:
                return None, None  # an organisation-level app key
            raise InvalidRequestError(
                "An app key belongs to an app: give `app_id`.", param="app_id"
            )
        if app_id:
            raise InvalidRequestError("Only app keys belong to an app.", param="app_id")
        if role == "admin":
            return None, None
        assert role in PERSON_ROLES
        return self._team_for_write(team_id), None

    def revoke_key(self, key_id: str) -> ApiKeyRow:
        require(self.actor, "keys:write")
        before = self.key(key_id)
        self._check_grant(before.role)
        with transaction(self.engine) as c:
            after = keys.revoke_key(c, before.id)
            self._audit(c, "key.revoke", ("key", key_id), before.team_id, before, after)
        return after

    def rotate_key(self, key_id: str, overlap_s: float) -> tuple[ApiKeyRow, ApiKeyRow, str]:
        require(self.actor, "keys:write")
        before = self.key(key_id)
        self._check_grant(before.role)
        with transaction(self.engine) as c:
            old, new, secret = keys.rotate_key(c, key_id, overlap_s=overlap_s)
            self._audit(c, "key.rotate", ("key", key_id), before.team_id, before, old)
            self._audit(c, "key.create", ("key", new.id), new.team_id, None, new)
        return old, new, secret

    def _check_grant(self, role: str) -> None:
        if not may_grant(self.actor, role):
            raise PermissionDeniedError(
                f"A key with role {self.actor.role!r} may not change {role!r} keys."
            )

    # -- budgets ---------------------------------------------------------------------------

    def list_budgets(self) -> list[BudgetRow]:
        require(self.actor, "budgets:read")
        return budgets.list_budgets(self.engine, team_id=self._scope())

    def budget(self, budget_id: str) -> BudgetRow:
        require(self.actor, "budgets:read")
        found = budgets.get_budget(self.engine, budget_id)
        return self._visible("budget", budget_id, found, lambda b: b.team_id)

    def create_budget(
        self,
        scope: str,
        scope_id: str,
        period: str,
        limit_usd: float,
        thresholds: tuple[float, ...] = (0.5, 0.8, 1.0),
        team_id: str | None = None,
    ) -> BudgetRow:
        require(self.actor, "budgets:write")
        owner = self._budget_owner(scope, scope_id, team_id)
        if period not in ("daily", "monthly", "total"):
            raise InvalidRequestError("`period` is one of daily, monthly, total.", param="period")
        with transaction(self.engine) as c:
            row = budgets.create_budget(
                c,
                scope=cast(budgets.Scope, scope),
                scope_id=scope_id,
                team_id=owner,
                period=cast(budgets.Period, period),
                limit_usd=limit_usd,
                thresholds=thresholds,
            )
            self._audit(c, "budget.create", ("budget", row.id), owner, None, row)
        return row

    def _budget_owner(self, scope: str, scope_id: str, team_id: str | None) -> str | None:
        owner: str | None
        if scope == "team":
            owner = self.team(scope_id).id
            return owner
        if scope == "app":
            owner = self.app(scope_id).team_id
            return owner
        if scope == "key":
            owner = self.key(scope_id).team_id
            return owner
        if scope == "model":
            if self.actor.org_wide and not team_id:
                return None
            return self._team_for_write(team_id)
        raise InvalidRequestError("`scope` is one of key, app, team, model.", param="scope")

    def delete_budget(self, budget_id: str) -> BudgetRow:
        require(self.actor, "budgets:write")
        before = self.budget(budget_id)
        with transaction(self.engine) as c:
            budgets.delete_budget(c, budget_id)
            self._audit(c, "budget.delete", ("budget", budget_id), before.team_id, before, None)
        return before

    # -- reads of other planes -------------------------------------------------------------

    def audit_entries(
        self, limit: int = 100, before_seq: int | None = None
    ) -> list[audit.AuditRow]:
        require(self.actor, "audit:read")
        scope: audit.TeamScope = audit.ALL_TEAMS if self.actor.org_wide else self.actor.team_id
        return audit.list_entries(self.engine, team_id=scope, limit=limit, before_seq=before_seq)

    def list_requests(self, query: RequestQuery) -> RequestPage:
        require(self.actor, "requests:read")
        return request_queries.list_requests(self.engine, query, team_id=self._scope())

    def get_request(self, request_id: str) -> RequestDetail:
        require(self.actor, "requests:read")
        found = request_queries.get_request(self.engine, request_id)
        return self._visible("request", request_id, found, lambda d: d.record.team_id)

    def budget_spend(self, row: BudgetRow) -> tuple[float, PeriodWindow]:
        """What the database has recorded against `row` in its current period, and the period."""
        require(self.actor, "budgets:read")
        window = period_of(row.period, datetime.now(UTC))
        return budgets.period_spend(self.engine, row, window.starts), window

    def cost_scope(self) -> str | None:
        """The team whose costs this actor may read (None: the whole organisation)."""
        require(self.actor, "costs:read")
        return self._scope()


def _active_keys(connection: Connection, team_id: str) -> list[ApiKeyRow]:
    now = datetime.now(UTC)
    return [k for k in keys.list_keys(connection, team_id=team_id) if k.active(now)]
