"""Versioned datasets: immutable versions of items, and the request records one is sampled from.

A version is written once, with all its items, in one transaction, and never changed: adding
items or corrections writes the next version. Versions of a name count 1, 2, 3, ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from steward.errors import InvalidRequestError, NotFoundError
from steward.evals.datasets import MAX_ID_LENGTH, check_name, item_body, item_from_body
from steward.evals.results import Item
from steward.storage.database import transaction
from steward.storage.tables import dataset_items, dataset_versions, payloads, requests

__all__ = [
    "SAMPLED_ENDPOINTS",
    "Candidate",
    "DatasetVersion",
    "RecordFilter",
    "create_version",
    "get_items",
    "get_version",
    "latest_version",
    "list_datasets",
    "list_versions",
    "record_candidates",
]

SAMPLED_ENDPOINTS: Final = ("chat", "messages")
"""Records of these endpoints carry chat messages; embeddings records are never sampled."""
_STATUS = re.compile(r"[1-5](\d\d|xx)", re.IGNORECASE)
_versions = dataset_versions.c
_items = dataset_items.c


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    name: str
    version: int
    created_at: datetime
    created_by: str
    note: str | None
    item_count: int

    @property
    def ref(self) -> str:
        """`name@version`, as commands take it."""
        return f"{self.name}@{self.version}"


def list_datasets(target: Engine | Connection) -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    latest = (
        select(_versions.name, func.max(_versions.version).label("version"))
        .group_by(_versions.name)
        .subquery()
    )
    query = (
        select(dataset_versions)
        .join(latest, and_(_versions.name == latest.c.name, _versions.version == latest.c.version))
        .order_by(_versions.name)
    )
    with transaction(target) as connection:
        return [_version(row) for row in connection.execute(query).mappings()]


def list_versions(target: Engine | Connection, name: str) -> list[DatasetVersion]:
    """Every version of the dataset, newest first."""
    query = (
        select(dataset_versions).where(_versions.name == name).order_by(_versions.version.desc())
    )
    with transaction(target) as connection:
        rows = [_version(row) for row in connection.execute(query).mappings()]
    if not rows:
        raise _unknown(name)
    return rows


def latest_version(target: Engine | Connection, name: str) -> DatasetVersion:
    return get_version(target, name)


def get_version(
    target: Engine | Connection, name: str, version: int | None = None
) -> DatasetVersion:
    """One version of the dataset (None: the latest); NotFoundError says which ones exist."""
    with transaction(target) as connection:
        return _get_version(connection, name, version)


def _get_version(connection: Connection, name: str, version: int | None) -> DatasetVersion:
    query = select(dataset_versions).where(_versions.name == name)
    if version is None:
        query = query.order_by(_versions.version.desc()).limit(1)
    else:
        query = query.where(_versions.version == version)
    row = connection.execute(query).mappings().first()
    if row is not None:
        return _version(row)
    latest = _latest_number(connection, name)
    if not latest:
        raise _unknown(name)
    raise NotFoundError(
        f"Dataset {name!r} has no version {version}; its versions are 1 to {latest} "
        f"(`steward datasets list {name}`).",
        code="dataset_version_not_found",
    )


def get_items(
    target: Engine | Connection,
    name: str,
    version: int | None = None,
    *,
    limit: int | None = None,
) -> list[Item]:
    """The items of one version (None: the latest), in their order; `limit` the first ones."""
    with transaction(target) as connection:
        found = _get_version(connection, name, version)
        query = (
            select(_items.item_id, _items.body)
            .where(_items.name == name, _items.version == found.version)
            .order_by(_items.position)
        )
        if limit is not None:
            query = query.limit(limit)
        rows = connection.execute(query).all()
    return [item_from_body(row.item_id, orjson.loads(row.body)) for row in rows]


def create_version(
    target: Engine | Connection,
    name: str,
    items: Sequence[Item],
    *,
    created_by: str,
    note: str | None = None,
    parent: int | None = None,
) -> DatasetVersion:
    """Write `items` as the dataset's next version (1 for a new name).

    `parent` is the version the items were derived from (0: the dataset must not exist yet):
    when given and the dataset has moved past it meanwhile, nothing is written.
    """
    check_name(name)
    rows = _item_rows(items)
    with transaction(target) as connection:
        current = _latest_number(connection, name)
        if parent is not None and current != parent:
            raise _conflict(name, current, parent)
        created = DatasetVersion(
            name, current + 1, datetime.now(UTC), created_by, note or None, len(rows)
        )
        values = [{"name": name, "version": created.version, **row} for row in rows]
        try:
            connection.execute(dataset_versions.insert(), [_version_values(created)])
            connection.execute(dataset_items.insert(), values)
        except IntegrityError:
            # Another writer took this version number between the read and the insert. (The
            # whole transaction is lost, the caller's too: no savepoint, as pysqlite commits
            # at a savepoint's release.)
            raise _conflict(name, current + 1, current) from None
    return created


def _item_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    if not items:
        raise InvalidRequestError("A dataset version needs at least one item.")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        if not item.id or len(item.id) > MAX_ID_LENGTH:
            raise InvalidRequestError(
                f"Item {position + 1} has no id or one over {MAX_ID_LENGTH} characters."
            )
        if item.id in seen:
            raise InvalidRequestError(f"Item id {item.id!r} appears twice; ids must be unique.")
        seen.add(item.id)
        try:
            body = orjson.dumps(item_body(item)).decode()
        except TypeError as exc:
            raise InvalidRequestError(f"Item {item.id!r} is not JSON: {exc}.") from None
        rows.append({"position": position, "item_id": item.id, "body": body})
    return rows


def _latest_number(connection: Connection, name: str) -> int:
    query = select(func.max(_versions.version)).where(_versions.name == name)
    return int(connection.execute(query).scalar() or 0)


def _conflict(name: str, current: int, parent: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"Dataset {name!r} is at version {current}, not {parent}: another change was written "
        "meanwhile; run the command again to build on the latest version.",
        code="dataset_version_conflict",
    )


def _unknown(name: str) -> NotFoundError:
    return NotFoundError(
        f"No dataset named {name!r}; `steward datasets list` shows the datasets and "
        f"`steward datasets import {name} FILE` creates it.",
        code="dataset_not_found",
    )


def _version(row: RowMapping) -> DatasetVersion:
    return DatasetVersion(
        name=row["name"],
        version=row["version"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        note=row["note"],
        item_count=row["item_count"],
    )


def _version_values(version: DatasetVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "created_at": version.created_at,
        "created_by": version.created_by,
        "note": version.note,
        "item_count": version.item_count,
    }


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which request records to sample: every filter given must match (None: any).

    `since <= created_at < until`; `status` is exact (`"200"`) or a class (`"2xx"`).
    """

    public_model: str
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = "200"
    team_id: str | None = None
    user: str | None = None
    prompt_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidRequestError("`since` must be before `until`.", param="since")
        if self.status is not None and not _STATUS.fullmatch(self.status):
            raise InvalidRequestError(
                f"`status` {self.status!r} is neither a status (200) nor a class (2xx).",
                param="status",
            )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A matching record: its id, endpoint, and whether a payload was captured for it."""

    request_id: str
    endpoint: str
    captured: bool


def record_candidates(engine: Engine, where: RecordFilter) -> list[Candidate]:
    """Every chat or messages record matching `where`, in id order (so a seeded sample of
    them is repeatable)."""
    captured = payloads.c.request_id.label("captured")
    query: Select[Any] = (
        select(requests.c.id, requests.c.endpoint, captured)
        .select_from(requests.outerjoin(payloads, payloads.c.request_id == requests.c.id))
        .where(*_conditions(where))
        .order_by(requests.c.id)
    )
    with transaction(engine) as connection:
        return [
            Candidate(row.id, row.endpoint, row.captured is not None)
            for row in connection.execute(query)
        ]


def _conditions(where: RecordFilter) -> list[ColumnElement[bool]]:
    c = requests.c
    conditions = [c.public_model == where.public_model, c.endpoint.in_(SAMPLED_ENDPOINTS)]
    if where.since is not None:
        conditions.append(c.created_at >= where.since)
    if where.until is not None:
        conditions.append(c.created_at < where.until)
    exact = ((c.team_id, where.team_id), (c.user, where.user), (c.prompt_name, where.prompt_name))
    conditions += [column == value for column, value in exact if value is not None]
    if where.status is not None:
        if where.status[1:].lower() == "xx":
            low = int(where.status[0]) * 100
            conditions += [c.status >= low, c.status < low + 100]
        else:
            conditions.append(c.status == int(where.status))
    return conditions
