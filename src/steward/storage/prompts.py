"""Prompt versions and labels: plain functions over a connection, so a change and its audit
entry commit together. Versions are immutable; a label is a pointer that moves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, select, tuple_, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.errors import NotFoundError
from steward.prompts.definition import PromptDefinition
from steward.storage.database import transaction
from steward.storage.tables import prompt_labels, prompt_versions

__all__ = [
    "PromptSummary",
    "StoredPrompt",
    "add_version",
    "get_labels",
    "get_version",
    "label_snapshot",
    "latest_version",
    "list_prompts",
    "list_versions",
    "load_versions",
    "resolve_version",
    "set_label",
]


@dataclass(frozen=True, slots=True)
class StoredPrompt:
    name: str
    version: int
    created_at: datetime
    created_by: str
    digest: str
    definition: PromptDefinition


@dataclass(frozen=True, slots=True)
class PromptSummary:
    name: str
    latest: int
    labels: Mapping[str, int]


def add_version(
    target: Engine | Connection, definition: PromptDefinition, *, created_by: str
) -> tuple[StoredPrompt, bool]:
    """Store `definition` as the next version, unless the latest version is identical: then
    that version is returned and nothing is written. The bool says whether one was created."""
    digest = definition.digest()
    with transaction(target) as connection:
        latest = _latest(connection, definition.name)
        if latest is not None and latest.digest == digest:
            return latest, False
        row = StoredPrompt(
            name=definition.name,
            version=1 if latest is None else latest.version + 1,
            created_at=datetime.now(UTC),
            created_by=created_by,
            digest=digest,
            definition=definition,
        )
        # Two pushes racing for the same version number: the primary key refuses the second,
        # which surfaces as a StorageError asking to retry.
        connection.execute(
            prompt_versions.insert(),
            [
                {
                    "name": row.name,
                    "version": row.version,
                    "created_at": row.created_at,
                    "created_by": created_by,
                    "body": definition.canonical_json().decode(),
                    "digest": digest,
                }
            ],
        )
    return row, True


def get_version(target: Engine | Connection, name: str, version: int) -> StoredPrompt:
    with transaction(target) as connection:
        row = (
            connection.execute(
                select(prompt_versions).where(
                    prompt_versions.c.name == name, prompt_versions.c.version == version
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        known = latest_version(target, name)
        hint = (
            f"it has versions 1 to {known}"
            if known
            else "push it with `steward prompts push` first"
        )
        raise NotFoundError(f"Prompt {name!r} has no version {version}; {hint}.")
    return _stored(row)


def latest_version(target: Engine | Connection, name: str) -> int | None:
    with transaction(target) as connection:
        value = connection.execute(
            select(func.max(prompt_versions.c.version)).where(prompt_versions.c.name == name)
        ).scalar()
    return int(value) if value is not None else None


def resolve_version(
    target: Engine | Connection, name: str, *, version: int | None, label: str | None
) -> int:
    """A version number for a ref: the number itself, a label's version, or the default
    (`production` if set, else the latest)."""
    if version is not None:
        return version
    labels = get_labels(target, name)
    if label is not None:
        if label not in labels:
            shown = ", ".join(sorted(labels)) or "none"
            raise NotFoundError(
                f"Prompt {name!r} has no label {label!r} (labels: {shown}); set it with "
                f"`steward prompts label {name} {label} VERSION`."
            )
        return labels[label]
    if "production" in labels:
        return labels["production"]
    latest = latest_version(target, name)
    if latest is None:
        raise NotFoundError(
            f"There is no prompt named {name!r}; push it with `steward prompts push`."
        )
    return latest


def list_versions(target: Engine | Connection, name: str) -> list[StoredPrompt]:
    with transaction(target) as connection:
        rows = connection.execute(
            select(prompt_versions)
            .where(prompt_versions.c.name == name)
            .order_by(prompt_versions.c.version)
        ).mappings()
        return [_stored(row) for row in rows]


def list_prompts(target: Engine | Connection) -> list[PromptSummary]:
    with transaction(target) as connection:
        latest = connection.execute(
            select(prompt_versions.c.name, func.max(prompt_versions.c.version)).group_by(
                prompt_versions.c.name
            )
        ).all()
        labels = label_snapshot(connection)
    return [
        PromptSummary(name=name, latest=int(top), labels=labels.get(name, {}))
        for name, top in sorted(latest)
    ]


def get_labels(target: Engine | Connection, name: str) -> dict[str, int]:
    with transaction(target) as connection:
        rows = connection.execute(
            select(prompt_labels.c.label, prompt_labels.c.version).where(
                prompt_labels.c.name == name
            )
        ).all()
    return {label: int(version) for label, version in rows}


def set_label(
    connection: Connection, name: str, label: str, version: int, *, updated_by: str
) -> int | None:
    """Point `label` at `version` (which must exist); return the version it pointed at before."""
    get_version(connection, name, version)
    previous = get_labels(connection, name).get(label)
    values = {"version": version, "updated_at": datetime.now(UTC), "updated_by": updated_by}
    if previous is None:
        connection.execute(prompt_labels.insert(), [{"name": name, "label": label, **values}])
    else:
        connection.execute(
            update(prompt_labels)
            .where(prompt_labels.c.name == name, prompt_labels.c.label == label)
            .values(**values)
        )
    return previous


def label_snapshot(target: Engine | Connection) -> dict[str, dict[str, int]]:
    """Every label of every prompt: {name: {label: version}}."""
    with transaction(target) as connection:
        rows = connection.execute(
            select(prompt_labels.c.name, prompt_labels.c.label, prompt_labels.c.version)
        ).all()
    snapshot: dict[str, dict[str, int]] = {}
    for name, label, version in rows:
        snapshot.setdefault(name, {})[label] = int(version)
    return snapshot


def load_versions(
    target: Engine | Connection, known: Iterable[tuple[str, int]]
) -> tuple[list[StoredPrompt], list[tuple[str, int]]]:
    """Versions not in `known`, and every (name, version) there is: a reload reads only the
    bodies it has not seen (versions never change)."""
    seen = set(known)
    with transaction(target) as connection:
        present = [
            (str(name), int(version))
            for name, version in connection.execute(
                select(prompt_versions.c.name, prompt_versions.c.version)
            ).all()
        ]
        missing = [pair for pair in present if pair not in seen]
        rows: list[StoredPrompt] = []
        for start in range(0, len(missing), 200):
            chunk = missing[start : start + 200]
            query = select(prompt_versions).where(
                tuple_(prompt_versions.c.name, prompt_versions.c.version).in_(chunk)
            )
            rows += [_stored(row) for row in connection.execute(query).mappings()]
    return rows, present


def _latest(connection: Connection, name: str) -> StoredPrompt | None:
    top = (
        select(func.max(prompt_versions.c.version))
        .where(prompt_versions.c.name == name)
        .scalar_subquery()
    )
    row = (
        connection.execute(
            select(prompt_versions).where(
                and_(prompt_versions.c.name == name, prompt_versions.c.version == top)
            )
        )
        .mappings()
        .first()
    )
    return _stored(row) if row is not None else None


def _stored(row: RowMapping) -> StoredPrompt:
    return StoredPrompt(
        name=str(row["name"]),
        version=int(row["version"]),
        created_at=row["created_at"],
        created_by=str(row["created_by"]),
        digest=str(row["digest"]),
        definition=PromptDefinition.from_json(str(row["body"])),
    )
