"""`GET /api/requests` and `GET /api/requests/{request_id}`: query string in, records out.

Unknown query parameters are refused (a misspelt filter would otherwise match everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from steward.errors import InvalidRequestError
from steward.storage.records import RequestRecord
from steward.storage.request_queries import DEFAULT_LIMIT, RequestQuery, decode_cursor
from steward.tenancy.admin import Admin
from steward.types import JSONObject

__all__ = ["LIST_PARAMETERS", "request_detail_view", "request_list_view"]

_FILTERS = {
    "model": "public_model",
    "key_id": "key_id",
    "app_id": "app_id",
    "status": "status",
    "error_type": "error_type",
    "user": "user",
    "cache": "cache",
    "prompt": "prompt_name",
}
LIST_PARAMETERS = ("since", "until", *_FILTERS, "prompt_version", "stream", "limit", "cursor")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def request_list_view(admin: Admin, query: Mapping[str, str]) -> JSONObject:
    """{"object": "list", "data": [record without attempts, ...], "next_cursor": str | null}"""
    page = admin.list_requests(parse_query(query))
    data = [{k: v for k, v in _record_json(r).items() if k != "attempts"} for r in page.records]
    return {"object": "list", "data": data, "next_cursor": page.next_cursor}


def request_detail_view(admin: Admin, request_id: str) -> JSONObject:
    """The whole record, `attempts` as a list, and `payload`: {policy, stored: true} or null."""
    detail = admin.get_request(request_id)
    body = _record_json(detail.record)
    body["attempts"] = orjson.loads(detail.record.attempts) if detail.record.attempts else []
    policy = detail.payload_policy
    body["payload"] = {"policy": policy, "stored": True} if policy is not None else None
    return body


def parse_query(query: Mapping[str, str]) -> RequestQuery:
    for name in query:
        if name not in LIST_PARAMETERS:
            raise InvalidRequestError(
                f"Unknown query parameter `{name}`; use any of {', '.join(LIST_PARAMETERS)}.",
                param=name,
            )
    filters: dict[str, Any] = {
        field: query[name] for name, field in _FILTERS.items() if query.get(name)
    }
    cursor = query.get("cursor")
    return RequestQuery(
        since=_instant(query.get("since"), "since"),
        until=_instant(query.get("until"), "until"),
        stream=_boolean(query.get("stream"), "stream"),
        prompt_version=(
            _integer(query["prompt_version"], "prompt_version", 0)
            if query.get("prompt_version")
            else None
        ),
        limit=_integer(query.get("limit"), "limit", DEFAULT_LIMIT),
        after=decode_cursor(cursor) if cursor else None,
        **filters,
    )


def _record_json(record: RequestRecord) -> JSONObject:
    body = record.to_row()
    body["created_at"] = record.created_at.isoformat()
    return body


def _instant(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(
            f"`{name}` must be a date (2026-12-01) or an ISO time (2026-12-01T09:30:00Z).",
            param=name,
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _boolean(raw: str | None, name: str) -> bool | None:
    if not raw:
        return None
    if raw.lower() not in _BOOLEANS:
        raise InvalidRequestError(f"`{name}` must be true or false.", param=name)
    return _BOOLEANS[raw.lower()]


def _integer(raw: str | None, name: str, default: int) -> int:
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequestError(f"`{name}` must be an integer.", param=name) from None
