"""The request query on SQLite and PostgreSQL: every filter against Python's own filtering,
keyset pages that neither repeat nor skip, team scope, and clear errors for bad input."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from steward.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from steward.storage.records import RequestRecord
from steward.storage.request_queries import (
    Cursor,
    RequestQuery,
    decode_cursor,
    encode_cursor,
    get_request,
    list_requests,
)
from steward.storage.requests import insert_records
from steward.storage.tables import payloads
from steward.tenancy.admin import Admin
from steward.tenancy.roles import Actor

BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
STATUSES = (200, 200, 429, 502, 504, 400, 200)
ERRORS = {429: "rate_limit_error", 502: "upstream_error", 504: "timeout_error", 400: "bad"}
CACHES = (None, "hit", "miss", "semantic", "bypass")


def at(i: int) -> datetime:
    """Three records share each instant; every other instant has microseconds."""
    group = i // 3
    return BASE + timedelta(seconds=group, microseconds=123_456 if group % 2 else 0)


def sample(i: int, prefix: str = "req") -> RequestRecord:
    status = STATUSES[i % len(STATUSES)]
    return RequestRecord(
        id=f"{prefix}-{i:04d}",
        created_at=at(i),
        endpoint="chat",
        status=status,
        latency_ms=10.0 + i,
        config_hash="0123456789abcdef",
        stream=i % 3 == 0,
        key_id=("key_a", "key_b")[i % 2],
        public_model=("gpt", "claude", "embed")[i % 3],
        error_type=ERRORS.get(status),
        cache=CACHES[i % len(CACHES)],
        team_id=("team_a", "team_b", None)[i % 4 % 3],
        app_id=("app_1", "app_2", None, "app_3")[i % 4],
        user=("alice", "bob", None)[i % 5 % 3],
        attempts='[{"target": "up/gpt-test", "status": 200}]',
        attempt_count=1,
    )


RECORDS = [sample(i) for i in range(40)]


def newest_first(records: list[RequestRecord]) -> list[RequestRecord]:
    return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)


@pytest.fixture
def stored(engine: Engine) -> Engine:
    # Inserted in a shuffled order, so the order of rows on disk proves nothing.
    insert_records(engine, RECORDS[1::2] + RECORDS[::2])
    return engine


def everything(engine: Engine, query: RequestQuery, team_id: str | None = None) -> list[str]:
    """Every page's ids, following `next_cursor` to the end."""
    ids: list[str] = []
    while True:
        page = list_requests(engine, query, team_id=team_id)
        ids += [r.id for r in page.records]
        if page.next_cursor is None:
            return ids
        query = replace(query, after=decode_cursor(page.next_cursor))


Predicate = Callable[[RequestRecord], bool]
FILTERS: list[tuple[str, dict[str, Any], Predicate]] = [
    ("since", {"since": at(9)}, lambda r: r.created_at >= at(9)),
    ("until", {"until": at(9)}, lambda r: r.created_at < at(9)),
    ("window", {"since": at(6), "until": at(21)}, lambda r: at(6) <= r.created_at < at(21)),
    ("model", {"public_model": "claude"}, lambda r: r.public_model == "claude"),
    ("key", {"key_id": "key_b"}, lambda r: r.key_id == "key_b"),
    ("app", {"app_id": "app_3"}, lambda r: r.app_id == "app_3"),
    ("status", {"status": "502"}, lambda r: r.status == 502),
    ("class 5xx", {"status": "5xx"}, lambda r: 500 <= r.status < 600),
    ("class 4XX", {"status": "4XX"}, lambda r: 400 <= r.status < 500),
    ("class 2xx", {"status": "2xx"}, lambda r: r.status == 200),
    ("error type", {"error_type": "timeout_error"}, lambda r: r.error_type == "timeout_error"),
    ("user", {"user": "bob"}, lambda r: r.user == "bob"),
    ("cache", {"cache": "semantic"}, lambda r: r.cache == "semantic"),
    ("stream", {"stream": True}, lambda r: r.stream),
    ("no stream", {"stream": False}, lambda r: not r.stream),
    (
        "combined",
        {"status": "2xx", "public_model": "gpt", "since": at(3)},
        lambda r: r.status == 200 and r.public_model == "gpt" and r.created_at >= at(3),
    ),
]


@pytest.mark.parametrize(
    ("filters", "matches"), [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS]
)
def test_each_filter_matches_what_python_matches(
    stored: Engine, filters: dict[str, Any], matches: Predicate
) -> None:
    expected = [r.id for r in newest_first(RECORDS) if matches(r)]
    assert 0 < len(expected) < len(RECORDS), "the sample must make the filter meaningful"
    page = list_requests(stored, RequestQuery(limit=500, **filters), team_id=None)
    assert [r.id for r in page.records] == expected
    assert page.next_cursor is None
    # The same filter, a few rows a page: the same rows, in the same order.
    assert everything(stored, RequestQuery(limit=4, **filters)) == expected


def test_records_read_back_whole(stored: Engine) -> None:
    page = list_requests(stored, RequestQuery(limit=500), team_id=None)
    assert list(page.records) == newest_first(RECORDS)


def test_three_pages_with_shared_instants_neither_repeat_nor_skip(stored: Engine) -> None:
    query = RequestQuery(limit=14)
    first = list_requests(stored, query, team_id=None)
    # Records arriving between pages are newer than any cursor: the pages stay as they were.
    insert_records(stored, [replace(sample(i, "new"), created_at=at(200)) for i in range(5)])
    second = list_requests(stored, replace(query, after=_after(first.next_cursor)), team_id=None)
    third = list_requests(stored, replace(query, after=_after(second.next_cursor)), team_id=None)
    pages = [first, second, third]
    assert [len(p.records) for p in pages] == [14, 14, 12]
    assert third.next_cursor is None
    ids = [r.id for p in pages for r in p.records]
    assert ids == [r.id for r in newest_first(RECORDS)]
    # A page boundary falls inside a group of records sharing one created_at.
    assert first.records[-1].created_at == second.records[0].created_at


def test_an_exact_multiple_of_the_limit_ends_without_an_empty_page(stored: Engine) -> None:
    query = RequestQuery(limit=20)
    first = list_requests(stored, query, team_id=None)
    second = list_requests(stored, replace(query, after=_after(first.next_cursor)), team_id=None)
    assert len(second.records) == 20 and second.next_cursor is None


def test_a_cursor_continues_with_a_filter_and_a_team(stored: Engine) -> None:
    expected = [r.id for r in newest_first(RECORDS) if r.team_id == "team_a" and r.stream]
    query = RequestQuery(limit=2, stream=True)
    assert len(expected) > 4
    assert everything(stored, query, team_id="team_a") == expected


def test_the_team_scope_shows_only_that_teams_records(stored: Engine) -> None:
    for team in ("team_a", "team_b"):
        page = list_requests(stored, RequestQuery(limit=500), team_id=team)
        assert page.records and {r.team_id for r in page.records} == {team}
        assert len(page.records) == sum(r.team_id == team for r in RECORDS)
    assert list_requests(stored, RequestQuery(), team_id="team_none").records == ()


def test_admin_scopes_by_the_actors_team(stored: Engine) -> None:
    owner = Admin(stored, Actor(id="k", name="owner", role="owner", team_id="team_a"))
    reviewer = Admin(stored, Actor(id="r", name="rev", role="reviewer", team_id="team_b"))
    admin = Admin(stored, Actor(id="a", name="admin", role="admin", team_id=None))
    assert {r.team_id for r in owner.list_requests(RequestQuery(limit=500)).records} == {"team_a"}
    assert {r.team_id for r in reviewer.list_requests(RequestQuery(limit=500)).records} == {
        "team_b"
    }
    assert len(admin.list_requests(RequestQuery(limit=500)).records) == len(RECORDS)
    theirs = next(r for r in RECORDS if r.team_id == "team_b")
    nobody = next(r for r in RECORDS if r.team_id is None)
    mine = next(r for r in RECORDS if r.team_id == "team_a")
    assert owner.get_request(mine.id).record == mine
    for hidden in (theirs.id, nobody.id, "missing"):
        with pytest.raises(NotFoundError) as caught:
            owner.get_request(hidden)
        assert "another team" in caught.value.message  # the same answer as for a missing id
    assert admin.get_request(nobody.id).record == nobody
    app = Admin(stored, Actor(id="p", name="app", role="app", team_id="team_a"))
    with pytest.raises(PermissionDeniedError, match="requests:read"):
        app.list_requests(RequestQuery())


def test_one_record_notes_a_stored_payload_without_reading_it(stored: Engine) -> None:
    with_payload, without = RECORDS[4], RECORDS[5]
    with stored.begin() as connection:
        connection.execute(
            payloads.insert().values(
                request_id=with_payload.id,
                created_at=with_payload.created_at,
                policy="redacted",
                body=b"\x00not readable\xff",
            )
        )
    noted = get_request(stored, with_payload.id)
    plain = get_request(stored, without.id)
    assert noted is not None and noted.record == with_payload and noted.payload_policy == "redacted"
    assert plain is not None and plain.record == without and plain.payload_policy is None
    assert get_request(stored, "missing") is None


def test_a_cursor_round_trips_microseconds() -> None:
    cursor = Cursor(datetime(2025, 6, 1, 12, 0, 0, 5, tzinfo=UTC), "req-1")
    assert decode_cursor(encode_cursor(cursor)) == cursor
    assert "=" not in encode_cursor(cursor)  # safe in a query string as it is


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "bad",
    [
        "nonsense",
        "",
        "é",
        _b64(b"not json"),
        _b64(b'{"a": 1}'),
        _b64(b'["2025-06-01T12:00:00+00:00"]'),
        _b64(b'["2025-06-01T12:00:00+00:00", 7]'),
        _b64(b'["2025-06-01T12:00:00+00:00", ""]'),
        _b64(b'["yesterday", "req-1"]'),
        _b64(b'["2025-06-01T12:00:00", "req-1"]'),  # no time zone: not one of ours
    ],
)
def test_a_bad_cursor_is_a_400_naming_the_cursor(bad: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        decode_cursor(bad)
    assert caught.value.status == 400 and caught.value.param == "cursor"
    assert "next_cursor" in caught.value.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"status": "5x"}, "status"),
        ({"status": "600"}, "status"),
        ({"status": "ok"}, "status"),
        ({"cache": "warm"}, "cache"),
        ({"since": at(9), "until": at(9)}, "since"),
    ],
)
def test_bad_queries_name_the_parameter(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        RequestQuery(**fields)
    assert caught.value.param == param and f"`{param}`" in caught.value.message


def test_naive_times_are_utc() -> None:
    assert RequestQuery(since=datetime(2025, 6, 1)).since == datetime(2025, 6, 1, tzinfo=UTC)


def _after(cursor: str | None) -> Cursor:
    assert cursor is not None
    return decode_cursor(cursor)
