"""Teams and apps: plain functions over a connection, so an admin action and its audit entry
commit together."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from steward.errors import InvalidRequestError
from steward.storage.database import transaction
from steward.storage.tables import apps, teams

__all__ = [
    "AppRow",
    "TeamRow",
    "create_app",
    "create_team",
    "delete_app",
    "delete_team",
    "get_app",
    "get_team",
    "list_apps",
    "list_teams",
    "update_app",
    "update_team",
]


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: str
    name: str
    created_at: datetime
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class AppRow:
    id: str
    team_id: str
    name: str
    created_at: datetime
    rpm: int | None = None
    tpm: int | None = None


def create_team(
    target: Engine | Connection, *, name: str, rpm: int | None = None, tpm: int | None = None
) -> TeamRow:
    row = TeamRow(id="team_" + secrets.token_hex(6), name=name, created_at=_now(), rpm=rpm, tpm=tpm)
    _insert(target, teams, _values(row), f"a team named {name!r} already exists")
    return row


def create_app(
    target: Engine | Connection,
    *,
    team_id: str,
    name: str,
    rpm: int | None = None,
    tpm: int | None = None,
) -> AppRow:
    row = AppRow(
        id="app_" + secrets.token_hex(6),
        team_id=team_id,
        name=name,
        created_at=_now(),
        rpm=rpm,
        tpm=tpm,
    )
    _insert(target, apps, _values(row), f"the team already has an app named {name!r}")
    return row


def list_teams(target: Engine | Connection, *, team_id: str | None = None) -> list[TeamRow]:
    query = select(teams).order_by(teams.c.created_at, teams.c.id)
    if team_id is not None:
        query = query.where(teams.c.id == team_id)
    with transaction(target) as connection:
        return [TeamRow(**_pick(TeamRow, r._mapping)) for r in connection.execute(query)]


def list_apps(target: Engine | Connection, *, team_id: str | None = None) -> list[AppRow]:
    query = select(apps).order_by(apps.c.created_at, apps.c.id)
    if team_id is not None:
        query = query.where(apps.c.team_id == team_id)
    with transaction(target) as connection:
        return [AppRow(**_pick(AppRow, r._mapping)) for r in connection.execute(query)]


def get_team(target: Engine | Connection, team_id: str) -> TeamRow | None:
    with transaction(target) as connection:
        found = connection.execute(select(teams).where(teams.c.id == team_id)).first()
    return TeamRow(**_pick(TeamRow, found._mapping)) if found else None


def get_app(target: Engine | Connection, app_id: str) -> AppRow | None:
    with transaction(target) as connection:
        found = connection.execute(select(apps).where(apps.c.id == app_id)).first()
    return AppRow(**_pick(AppRow, found._mapping)) if found else None


def update_team(target: Engine | Connection, team_id: str, **values: Any) -> None:
    with transaction(target) as connection:
        connection.execute(update(teams).where(teams.c.id == team_id).values(**values))


def update_app(target: Engine | Connection, app_id: str, **values: Any) -> None:
    with transaction(target) as connection:
        connection.execute(update(apps).where(apps.c.id == app_id).values(**values))


def delete_team(target: Engine | Connection, team_id: str) -> None:
    with transaction(target) as connection:
        connection.execute(delete(teams).where(teams.c.id == team_id))


def delete_app(target: Engine | Connection, app_id: str) -> None:
    with transaction(target) as connection:
        connection.execute(delete(apps).where(apps.c.id == app_id))


def _insert(target: Engine | Connection, table: Table, values: dict[str, Any], taken: str) -> None:
    with transaction(target) as connection:
        if connection.execute(_same_name(table, values)).first() is not None:
            raise InvalidRequestError(f"Cannot create: {taken}; pick another name.", code="exists")
        try:
            with connection.begin_nested():
                connection.execute(table.insert(), [values])
        except IntegrityError:
            raise InvalidRequestError(
                f"Cannot create: {taken}; pick another name.", code="exists"
            ) from None


def _same_name(table: Table, values: dict[str, Any]) -> Any:
    query = select(table.c.id).where(table.c.name == values["name"])
    if "team_id" in values:
        query = query.where(table.c.team_id == values["team_id"])
    return query


def _now() -> datetime:
    return datetime.now(UTC)


def _values(row: TeamRow | AppRow) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}


def _pick(cls: type[TeamRow] | type[AppRow], mapping: RowMapping) -> dict[str, Any]:
    return {f.name: mapping[f.name] for f in fields(cls)}
