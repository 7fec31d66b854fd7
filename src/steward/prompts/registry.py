"""Prompt registry actions: push versions, move labels (promotion gated by a passing eval gate
unless forced), roll back. Each change and its audit entry commit in one transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from steward.errors import InvalidRequestError, NotFoundError
from steward.prompts.definition import PromptDefinition
from steward.prompts.template import CompiledPrompt, template_environment
from steward.storage import audit
from steward.storage import evals as eval_store
from steward.storage import prompts as store
from steward.storage.database import transaction

__all__ = ["GATED_LABEL", "LabelMove", "PromptRegistry", "Pushed"]

GATED_LABEL = "production"
"""Moving this label forward needs a passing `steward eval gate` run for the version."""

LABEL_PATTERN = r"^[a-z][a-z0-9._-]{0,99}$"


@dataclass(frozen=True, slots=True)
class Pushed:
    name: str
    version: int
    created: bool


@dataclass(frozen=True, slots=True)
class LabelMove:
    name: str
    label: str
    version: int
    previous: int | None
    forced: bool = False


class PromptRegistry:
    """The registry as one actor sees it; `actor_id` is what the audit log records."""

    def __init__(self, engine: Engine, *, actor_id: str, actor: str) -> None:
        self._engine = engine
        self._actor_id = actor_id
        self._actor = actor

    def push(
        self, definitions: Sequence[PromptDefinition], *, label: str | None = None
    ) -> list[Pushed]:
        """Store each definition that changed as its next version; optionally label them
        (never `production`: promotion goes through `label`, with its gate)."""
        if label == GATED_LABEL:
            raise InvalidRequestError(
                f"push cannot move {GATED_LABEL!r}; promote with `steward prompts label NAME "
                f"{GATED_LABEL} VERSION` after a passing gate."
            )
        env = template_environment()
        for definition in definitions:
            CompiledPrompt.compile(definition, 0, env)  # refuse what would not serve
        pushed = []
        for definition in definitions:
            with transaction(self._engine) as connection:
                row, created = store.add_version(connection, definition, created_by=self._actor_id)
                if created:
                    self._audit(
                        connection,
                        "prompt.push",
                        row.name,
                        None,
                        {"version": row.version, "digest": row.digest},
                    )
                if label is not None:
                    self._move(connection, row.name, label, row.version, forced=False)
            pushed.append(Pushed(row.name, row.version, created))
        return pushed

    def label(self, name: str, label: str, version: int, *, force: bool = False) -> LabelMove:
        """Point `label` at `version`. For `production`, a version other than the current one
        needs a passing gate run naming it as the candidate, unless `force` (audited as such)."""
        _check_label(label)
        with transaction(self._engine) as connection:
            store.get_version(connection, name, version)
            current = store.get_labels(connection, name).get(label)
            if label == GATED_LABEL and version != current and not force:
                self._require_gate(connection, name, version)
            return self._move(connection, name, label, version, forced=force)

    def rollback(self, name: str, *, label: str = GATED_LABEL) -> LabelMove:
        """Move `label` back to the version it pointed at before its last move (from the audit
        log). No gate: that version held the label before."""
        entries = audit.list_entries(self._engine, team_id=audit.ALL_TEAMS, limit=10_000)
        for row in entries:
            entry = row.entry
            after = entry.after or {}
            if (
                entry.action in ("prompt.label", "prompt.rollback")
                and entry.target_id == name
                and after.get("label") == label
            ):
                before = (entry.before or {}).get("version")
                if not isinstance(before, int):
                    break
                with transaction(self._engine) as connection:
                    return self._move(
                        connection, name, label, before, forced=False, action="prompt.rollback"
                    )
        raise NotFoundError(
            f"Label {label!r} of prompt {name!r} has no earlier version to roll back to; "
            f"set one with `steward prompts label {name} {label} VERSION`."
        )

    def _require_gate(self, connection: Connection, name: str, version: int) -> None:
        gate = eval_store.latest_gate(connection, name, version)
        if gate is not None and gate.passed:
            return
        why = (
            f"its last gate run ({gate.id}) said {gate.verdict}"
            if gate is not None
            else "no gate run has tested it"
        )
        raise InvalidRequestError(
            f"Version {version} of prompt {name!r} cannot become {GATED_LABEL}: {why}. Run "
            f"`steward eval gate --prompt {name} --dataset D --baseline @{GATED_LABEL} "
            f"--candidate @{version}` first, or pass --force (recorded in the audit log)."
        )

    def _move(
        self,
        connection: Connection,
        name: str,
        label: str,
        version: int,
        *,
        forced: bool,
        action: str = "prompt.label",
    ) -> LabelMove:
        previous = store.set_label(connection, name, label, version, updated_by=self._actor_id)
        after = {"label": label, "version": version, "forced": forced}
        before = {"label": label, "version": previous} if previous is not None else None
        self._audit(connection, action, name, before, after)
        return LabelMove(name, label, version, previous, forced)

    def _audit(
        self,
        connection: Connection,
        action: str,
        name: str,
        before: dict[str, object] | None,
        after: dict[str, object],
    ) -> None:
        audit.append(
            connection,
            audit.AuditEntry(
                actor_id=self._actor_id,
                actor=self._actor,
                action=action,
                target_type="prompt",
                target_id=name,
                before=before,
                after=after,
            ),
        )


def _check_label(label: str) -> None:
    if not re.match(LABEL_PATTERN, label) or label.isdigit():
        raise InvalidRequestError(
            f"{label!r} is not a label name; use lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter (e.g. production, staging, canary)."
        )
