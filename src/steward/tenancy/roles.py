"""Roles and what each may do; an actor is whoever performs an admin action (a key or the CLI).

The deployment is the organisation. `admin` keys act on all of it; every other person's key
belongs to one team and sees only that team; `app` keys belong to an app and may only call /v1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from steward.auth.keyring import Principal
from steward.errors import PermissionDeniedError

__all__ = [
    "PERSON_ROLES",
    "ROLES",
    "Actor",
    "Permission",
    "actor_for",
    "can",
    "may_grant",
    "require",
]

ROLES = ("admin", "owner", "developer", "reviewer", "viewer", "app")
PERSON_ROLES = ("admin", "owner", "developer", "reviewer", "viewer")

Permission = Literal[
    "call",
    "teams:read",
    "teams:write",
    "apps:read",
    "apps:write",
    "keys:read",
    "keys:write",
    "budgets:read",
    "budgets:write",
    "costs:read",
    "audit:read",
    "ops:read",
    "requests:read",
]

_READ: frozenset[Permission] = frozenset(
    {
        "teams:read",
        "apps:read",
        "keys:read",
        "budgets:read",
        "costs:read",
        "ops:read",
        "requests:read",
    }
)
_ADMIN: frozenset[Permission] = frozenset(
    {"call", "teams:write", "apps:write", "keys:write", "budgets:write", "audit:read"}
)
_OWNER: frozenset[Permission] = frozenset(
    {"call", "apps:write", "keys:write", "budgets:write", "audit:read"}
)
_DEVELOPER: frozenset[Permission] = frozenset({"call", "apps:write", "keys:write"})
_ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    "admin": _READ | _ADMIN,
    "owner": _READ | _OWNER,
    "developer": _READ | _DEVELOPER,
    "reviewer": frozenset({"teams:read", "apps:read", "ops:read", "requests:read"}),
    "viewer": _READ,
    "app": frozenset({"call"}),
}

_RANK = {"viewer": 0, "reviewer": 0, "app": 1, "developer": 2, "owner": 3, "admin": 4}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an admin action; `team_id` None means organisation-wide (admins)."""

    id: str
    name: str
    role: str
    team_id: str | None

    @property
    def org_wide(self) -> bool:
        return self.role == "admin"

    def sees(self, team_id: str | None) -> bool:
        """Whether this actor may see a resource of `team_id` (None: organisation-wide)."""
        return self.org_wide or (team_id is not None and team_id == self.team_id)


def actor_for(principal: Principal) -> Actor:
    return Actor(
        id=principal.key_id, name=principal.name, role=principal.role, team_id=principal.team_id
    )


def can(role: str, permission: Permission) -> bool:
    return permission in _ROLE_PERMISSIONS.get(role, frozenset())


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDeniedError naming the role and what it lacks."""
    if not can(actor.role, permission):
        raise PermissionDeniedError(
            f"A key with role {actor.role!r} may not do this (it needs {permission!r}); "
            "use a key with a role that has it (see docs/operations.md, Roles)."
        )


def may_grant(actor: Actor, role: str) -> bool:
    """Keys can be made for roles up to one's own; only admins make admin keys, developers
    only app keys."""
    if actor.role == "admin":
        return True
    if actor.role == "developer":
        return role == "app"
    return _RANK.get(role, 99) <= _RANK.get(actor.role, -1) and role != "admin"
