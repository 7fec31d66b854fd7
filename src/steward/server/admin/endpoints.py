"""Every admin endpoint as data: method, path, permission, body, summary and what it runs.

The same table serves the routes, the OpenAPI document and the tenant-isolation test, so an
endpoint cannot exist without being documented and tried with the wrong team's key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from steward.errors import InvalidRequestError
from steward.server.admin import bodies
from steward.server.admin.requests import LIST_PARAMETERS, request_detail_view, request_list_view
from steward.storage import budgets as budget_store
from steward.tenancy.admin import Admin, public
from steward.tenancy.roles import Permission

__all__ = ["ENDPOINTS", "Call", "Endpoint"]


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the path parameters, the query string, the parsed body."""

    path: Mapping[str, str]
    query: Mapping[str, str]
    body: BaseModel | None = None

    def int_query(
        self, name: str, default: int | None, *, lo: int = 1, hi: int = 1000
    ) -> int | None:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequestError(f"`{name}` must be an integer.", param=name) from None
        if not lo <= value <= hi:
            raise InvalidRequestError(f"`{name}` must be between {lo} and {hi}.", param=name)
        return value


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    summary: str
    permission: Permission
    run: Callable[[Admin, Call], object]
    body: type[BaseModel] | None = None
    status: int = 200
    tag: str = ""
    query: tuple[str, ...] = field(default=())


def _list(rows: list[Any]) -> dict[str, Any]:
    return {"object": "list", "data": [public(r) for r in rows]}


def _body(call: Call) -> dict[str, Any]:
    assert call.body is not None
    return call.body.model_dump(exclude_unset=True)


def _with_secret(pair: tuple[Any, str]) -> dict[str, Any]:
    row, secret = pair
    return {**public(row), "secret": secret}


def _rotate(admin: Admin, call: Call) -> object:
    assert isinstance(call.body, bodies.KeyRotate)
    old, new, secret = admin.rotate_key(call.path["key_id"], call.body.overlap_s)
    return {"old": public(old), "new": {**public(new), "secret": secret}}


def _budget_status(admin: Admin, row: budget_store.BudgetRow) -> dict[str, Any]:
    spent, window = admin.budget_spend(row)
    return {
        **public(row),
        "spent_usd": round(spent, 6),
        "used_fraction": round(spent / row.limit_usd, 6),
        "period_key": window.key,
        "resets_at": window.ends.isoformat() if window.ends else None,
    }


def _costs(admin: Admin, call: Call) -> object:
    from steward.server.admin.costs import cost_view

    return cost_view(admin, call.query)


def _audit(admin: Admin, call: Call) -> object:
    rows = admin.audit_entries(
        limit=call.int_query("limit", 100) or 100, before_seq=call.int_query("before_seq", None)
    )
    return {
        "object": "list",
        "data": [
            {"seq": r.seq, "at": r.at.isoformat(), **public(r.entry), "hash": r.hash} for r in rows
        ],
    }


T, A, K, B = "teams", "apps", "keys", "budgets"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/api/teams", "List teams", "teams:read", lambda a, c: _list(a.list_teams()), tag=T
    ),
    Endpoint(
        "POST",
        "/api/teams",
        "Create a team (admins)",
        "teams:write",
        lambda a, c: public(a.create_team(**_body(c))),
        bodies.TeamCreate,
        201,
        T,
    ),
    Endpoint(
        "GET",
        "/api/teams/{team_id}",
        "Get a team",
        "teams:read",
        lambda a, c: public(a.team(c.path["team_id"])),
        tag=T,
    ),
    Endpoint(
        "PATCH",
        "/api/teams/{team_id}",
        "Rename a team or set its limits (admins)",
        "teams:write",
        lambda a, c: public(a.update_team(c.path["team_id"], **_body(c))),
        bodies.TeamUpdate,
        tag=T,
    ),
    Endpoint(
        "DELETE",
        "/api/teams/{team_id}",
        "Delete an empty team (admins)",
        "teams:write",
        lambda a, c: public(a.delete_team(c.path["team_id"])),
        tag=T,
    ),
    Endpoint(
        "GET", "/api/apps", "List apps", "apps:read", lambda a, c: _list(a.list_apps()), tag=A
    ),
    Endpoint(
        "POST",
        "/api/apps",
        "Create an app",
        "apps:write",
        lambda a, c: public(a.create_app(**_body(c))),
        bodies.AppCreate,
        201,
        A,
    ),
    Endpoint(
        "GET",
        "/api/apps/{app_id}",
        "Get an app",
        "apps:read",
        lambda a, c: public(a.app(c.path["app_id"])),
        tag=A,
    ),
    Endpoint(
        "PATCH",
        "/api/apps/{app_id}",
        "Rename an app or set its limits",
        "apps:write",
        lambda a, c: public(a.update_app(c.path["app_id"], **_body(c))),
        bodies.AppUpdate,
        tag=A,
    ),
    Endpoint(
        "DELETE",
        "/api/apps/{app_id}",
        "Delete an app without active keys",
        "apps:write",
        lambda a, c: public(a.delete_app(c.path["app_id"])),
        tag=A,
    ),
    Endpoint(
        "GET",
        "/api/keys",
        "List keys (never secrets)",
        "keys:read",
        lambda a, c: _list(a.list_keys()),
        tag=K,
    ),
    Endpoint(
        "POST",
        "/api/keys",
        "Create a key; the secret is in this response only",
        "keys:write",
        lambda a, c: _with_secret(a.create_key(**_body(c))),
        bodies.KeyCreate,
        201,
        K,
    ),
    Endpoint(
        "GET",
        "/api/keys/{key_id}",
        "Get a key",
        "keys:read",
        lambda a, c: public(a.key(c.path["key_id"])),
        tag=K,
    ),
    Endpoint(
        "DELETE",
        "/api/keys/{key_id}",
        "Revoke a key (every replica within seconds)",
        "keys:write",
        lambda a, c: public(a.revoke_key(c.path["key_id"])),
        tag=K,
    ),
    Endpoint(
        "POST",
        "/api/keys/{key_id}/rotate",
        "Rotate a key: a new secret; the old one works for overlap_s more",
        "keys:write",
        _rotate,
        bodies.KeyRotate,
        201,
        K,
    ),
    Endpoint(
        "GET",
        "/api/budgets",
        "List budgets with their current spend",
        "budgets:read",
        lambda a, c: {"object": "list", "data": [_budget_status(a, b) for b in a.list_budgets()]},
        tag=B,
    ),
    Endpoint(
        "POST",
        "/api/budgets",
        "Create a budget",
        "budgets:write",
        lambda a, c: public(a.create_budget(**_body(c))),
        bodies.BudgetCreate,
        201,
        B,
    ),
    Endpoint(
        "GET",
        "/api/budgets/{budget_id}",
        "Get a budget with its current spend",
        "budgets:read",
        lambda a, c: _budget_status(a, a.budget(c.path["budget_id"])),
        tag=B,
    ),
    Endpoint(
        "DELETE",
        "/api/budgets/{budget_id}",
        "Delete a budget",
        "budgets:write",
        lambda a, c: public(a.delete_budget(c.path["budget_id"])),
        tag=B,
    ),
    Endpoint(
        "GET",
        "/api/costs",
        "Spend by day, team, app, model or route; month projection",
        "costs:read",
        _costs,
        tag="costs",
        query=("since", "until", "group_by", "model", "app_id"),
    ),
    Endpoint(
        "GET",
        "/api/audit",
        "The audit log, newest first",
        "audit:read",
        _audit,
        tag="audit",
        query=("limit", "before_seq"),
    ),
    Endpoint(
        "GET",
        "/api/requests",
        "Request records, newest first, filtered; cursor pagination",
        "requests:read",
        lambda a, c: request_list_view(a, c.query),
        tag="requests",
        query=LIST_PARAMETERS,
    ),
    Endpoint(
        "GET",
        "/api/requests/{request_id}",
        "One request record with its attempts",
        "requests:read",
        lambda a, c: request_detail_view(a, c.path["request_id"]),
        tag="requests",
    ),
)
