"""Reading request records back: filters, keyset pagination with an opaque cursor, one record.

Pages are ordered newest first on `(created_at, id)`, and a cursor names the last row of a page,
so paging neither repeats nor skips rows while new records arrive (they are newer than any
cursor) or when many records share one `created_at`.

Datetimes are compared through the column's own type (`UTCDateTime`): on SQLite the bound value
is rendered by the same bind processor `insert_records` uses, so text comparison is exact.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from steward.errors import InvalidRequestError
from steward.storage.database import translate_errors
from steward.storage.records import RequestRecord
from steward.storage.tables import payloads, requests

__all__ = [
    "CACHE_OUTCOMES",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Cursor",
    "RequestDetail",
    "RequestPage",
    "RequestQuery",
    "decode_cursor",
    "encode_cursor",
    "get_request",
    "list_requests",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
CACHE_OUTCOMES = ("hit", "semantic", "miss", "bypass", "skip")
_STATUS = re.compile(r"^([1-5])(\d\d|xx)$", re.IGNORECASE)
_FIELDS = tuple(f.name for f in fields(RequestRecord))


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after which the next page starts: the last row of the previous page."""

    created_at: datetime
    id: str


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps([cursor.created_at.astimezone(UTC).isoformat(), cursor.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The cursor `encode_cursor` made; anything else is a 400 naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        when, ident = orjson.loads(raw)
        if not isinstance(when, str) or not isinstance(ident, str) or not ident:
            raise ValueError(text)
        created_at = datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError(text)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise InvalidRequestError(
            f"`cursor` {text[:60]!r} is not a cursor this API returned; pass `next_cursor` from "
            "the previous page unchanged, or leave `cursor` out for the first page.",
            param="cursor",
        ) from None
    return Cursor(created_at=created_at.astimezone(UTC), id=ident)


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """Which records, and how many: every filter given must match (None: any).

    `since <= created_at < until`. `status` is exact (`"502"`) or a class (`"5xx"`).
    `after` continues from a previous page. `prompt` is a prompt name and `prompt_version` one
    of its versions (records served through `prompt:` models carry both).
    """

    since: datetime | None = None
    until: datetime | None = None
    public_model: str | None = None
    key_id: str | None = None
    app_id: str | None = None
    status: str | None = None
    error_type: str | None = None
    user: str | None = None
    cache: str | None = None
    stream: bool | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidRequestError("`since` must be before `until`.", param="since")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidRequestError(f"`limit` must be between 1 and {MAX_LIMIT}.", param="limit")
        if self.status is not None and not _STATUS.match(self.status):
            raise InvalidRequestError(
                f"`status` {self.status!r} is neither a status (502) nor a class (5xx).",
                param="status",
            )
        if self.cache is not None and self.cache not in CACHE_OUTCOMES:
            raise InvalidRequestError(
                f"`cache` {self.cache!r} is not an outcome; use one of {', '.join(CACHE_OUTCOMES)}.",
                param="cache",
            )


@dataclass(frozen=True, slots=True)
class RequestPage:
    records: tuple[RequestRecord, ...]
    next_cursor: str | None
    """Pass as the next query's `after` (decoded); None when this is the last page."""


@dataclass(frozen=True, slots=True)
class RequestDetail:
    record: RequestRecord
    payload_policy: str | None
    """The policy of the stored payload (`metadata`, `redacted`, `full`); None: none stored."""


def list_requests(engine: Engine, query: RequestQuery, *, team_id: str | None) -> RequestPage:
    """One page of matching records, newest first; `team_id` None means every team's."""
    where = _filters(query)
    if team_id is not None:
        where.append(requests.c.team_id == team_id)
    statement = (
        select(requests)
        .where(*where)
        .order_by(requests.c.created_at.desc(), requests.c.id.desc())
        .limit(query.limit + 1)  # one more than asked tells whether another page follows
    )
    with translate_errors(engine.url), engine.connect() as connection:
        rows = [_record(row) for row in connection.execute(statement).mappings()]
    page, more = rows[: query.limit], len(rows) > query.limit
    last = page[-1] if more else None
    cursor = encode_cursor(Cursor(last.created_at, last.id)) if last is not None else None
    return RequestPage(records=tuple(page), next_cursor=cursor)


def get_request(engine: Engine, request_id: str) -> RequestDetail | None:
    """The record and whether a payload was stored for it (the payload is not read)."""
    statement = (
        select(requests, payloads.c.policy.label("payload_policy"))
        .select_from(requests.outerjoin(payloads, payloads.c.request_id == requests.c.id))
        .where(requests.c.id == request_id)
    )
    with translate_errors(engine.url), engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    if row is None:
        return None
    return RequestDetail(record=_record(row), payload_policy=row["payload_policy"])


def _filters(query: RequestQuery) -> list[ColumnElement[bool]]:
    c = requests.c
    where: list[ColumnElement[bool]] = []
    if query.since is not None:
        where.append(c.created_at >= query.since)
    if query.until is not None:
        where.append(c.created_at < query.until)
    exact: Sequence[tuple[Any, object]] = (
        (c.public_model, query.public_model),
        (c.key_id, query.key_id),
        (c.app_id, query.app_id),
        (c.error_type, query.error_type),
        (c.user, query.user),
        (c.cache, query.cache),
        (c.stream, query.stream),
        (c.prompt_name, query.prompt_name),
        (c.prompt_version, query.prompt_version),
    )
    where += [column == value for column, value in exact if value is not None]
    if query.status is not None:
        where.append(_status(query.status))
    if query.after is not None:
        where.append(_before(query.after))
    return where


def _status(spec: str) -> ColumnElement[bool]:
    if spec[1:].lower() == "xx":
        low = int(spec[0]) * 100
        return and_(requests.c.status >= low, requests.c.status < low + 100)
    return requests.c.status == int(spec)


def _before(cursor: Cursor) -> ColumnElement[bool]:
    """Rows after `cursor` in (created_at desc, id desc) order.

    The redundant `created_at <= ...` gives the planner a range on the created_at index.
    """
    created = requests.c.created_at
    return and_(
        created <= cursor.created_at,
        or_(created < cursor.created_at, requests.c.id < cursor.id),
    )


def _record(row: RowMapping) -> RequestRecord:
    values: dict[str, Any] = {name: row[name] for name in _FIELDS}
    return RequestRecord(**values)
