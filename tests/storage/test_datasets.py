"""Datasets on SQLite and PostgreSQL: immutable versions, refs, clear errors, concurrent writers,
and sampling items from request records with captured payloads."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from steward.errors import InvalidRequestError, NotFoundError, StewardError
from steward.evals.datasets import content_id
from steward.evals.from_records import sample_records
from steward.evals.results import Item
from steward.observe.redact import PatternRedactor
from steward.payloads.capture import PayloadDraft
from steward.payloads.keys import PayloadKeyring
from steward.payloads.sealing import Sealer
from steward.storage import datasets as store
from steward.storage.payloads import Entry, SealedRecord, insert_entries
from steward.storage.records import RequestRecord
from steward.storage.tables import requests

BY = "cli:test"
ITEMS = [
    Item("a", variables={"q": "Ünï \u2028 code", "n": 1}, expected={"k": [1, None]}, tags=("x",)),
    Item("b", messages=[{"role": "user", "content": "hi"}], expected="hello"),
    Item("c", variables={}),
]


def test_versions_count_up_and_never_change(engine: Engine) -> None:
    first = store.create_version(engine, "support", ITEMS, created_by=BY, note="first")
    assert (first.ref, first.item_count, first.created_by, first.note) == (
        "support@1",
        3,
        BY,
        "first",
    )
    second = store.create_version(engine, "support", ITEMS[:1], created_by=BY)
    assert second.version == 2 and second.note is None
    assert store.get_items(engine, "support", 1) == ITEMS
    assert store.get_items(engine, "support") == ITEMS[:1]
    assert store.get_items(engine, "support", 1, limit=2) == ITEMS[:2]
    assert store.latest_version(engine, "support") == second
    assert store.get_version(engine, "support", 1) == first
    assert [v.version for v in store.list_versions(engine, "support")] == [2, 1]
    assert first.created_at.tzinfo is not None


def test_items_keep_their_order(engine: Engine) -> None:
    items = [Item(f"id-{n:03}", variables={"n": n}) for n in reversed(range(120))]
    store.create_version(engine, "many", items, created_by=BY)
    assert store.get_items(engine, "many") == items


def test_list_datasets_shows_each_latest_version(engine: Engine) -> None:
    for name, versions in (("zeta", 1), ("alpha", 3)):
        for _ in range(versions):
            store.create_version(engine, name, ITEMS, created_by=BY)
    assert [v.ref for v in store.list_datasets(engine)] == ["alpha@3", "zeta@1"]


def test_unknown_names_and_versions_say_what_to_do(engine: Engine) -> None:
    assert store.list_datasets(engine) == []
    with pytest.raises(NotFoundError) as excinfo:
        store.get_items(engine, "nope")
    assert "`steward datasets import nope FILE`" in excinfo.value.message
    with pytest.raises(NotFoundError):
        store.list_versions(engine, "nope")
    store.create_version(engine, "d", ITEMS, created_by=BY)
    store.create_version(engine, "d", ITEMS, created_by=BY)
    with pytest.raises(NotFoundError) as excinfo:
        store.get_version(engine, "d", 7)
    assert excinfo.value.message.startswith("Dataset 'd' has no version 7; its versions are 1 to 2")


@pytest.mark.parametrize(
    ("name", "items", "fragment"),
    [
        ("d", [], "at least one item"),
        ("d", [ITEMS[0], ITEMS[0]], "appears twice"),
        ("d", [Item("", variables={})], "has no id"),
        ("d", [Item("x" * 201, variables={})], "over 200"),
        ("d", [Item("s", variables={"v": {1, 2}})], "is not JSON"),
        ("bad name", ITEMS, "not a dataset name"),
    ],
)
def test_bad_versions_are_refused(
    engine: Engine, name: str, items: list[Item], fragment: str
) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        store.create_version(engine, name, items, created_by=BY)
    assert store.list_datasets(engine) == []


def test_a_stale_parent_writes_nothing(engine: Engine) -> None:
    store.create_version(engine, "d", ITEMS, created_by=BY, parent=0)
    with pytest.raises(InvalidRequestError) as excinfo:
        store.create_version(engine, "d", ITEMS, created_by=BY, parent=0)
    assert excinfo.value.code == "dataset_version_conflict"
    assert "is at version 1, not 0" in excinfo.value.message
    assert store.create_version(engine, "d", ITEMS[:1], created_by=BY, parent=1).version == 2
    assert store.latest_version(engine, "d").item_count == 1


def test_a_version_in_the_callers_transaction_rolls_back_with_it(engine: Engine) -> None:
    def abandoned() -> None:
        with engine.begin() as connection:
            store.create_version(connection, "d", ITEMS, created_by=BY)
            assert store.latest_version(connection, "d").version == 1
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandoned()
    assert store.list_datasets(engine) == []


def test_concurrent_writers_get_distinct_versions_or_a_conflict(engine: Engine) -> None:
    outcomes: list[int | str] = []
    start = threading.Barrier(4)

    def write(n: int) -> None:
        start.wait()
        try:
            items = [Item(f"w{n}", variables={"n": n})]
            outcomes.append(store.create_version(engine, "race", items, created_by=BY).version)
        except StewardError as exc:
            outcomes.append(exc.code or exc.message)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = sorted(o for o in outcomes if isinstance(o, int))
    assert versions == list(range(1, len(versions) + 1))
    assert all(o == "dataset_version_conflict" for o in outcomes if isinstance(o, str))
    for version in versions:  # each version holds exactly its writer's item
        (item,) = store.get_items(engine, "race", version)
        assert item.variables is not None and item.id == f"w{item.variables['n']}"


# -- sampling request records ------------------------------------------------------------------

KEY = PayloadKeyring([os.urandom(32)])
OTHER_KEY = PayloadKeyring([os.urandom(32)])
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(n: int, **fields: object) -> RequestRecord:
    values: dict[str, object] = {
        "id": f"req_{n:03}",
        "created_at": NOW + timedelta(minutes=n),
        "endpoint": "chat",
        "status": 200,
        "latency_ms": 5.0,
        "config_hash": "0123456789abcdef",
        "public_model": "chat",
        "team_id": "team_a",
        "user": "alice",
    }
    values.update(fields)
    return RequestRecord(**values)  # type: ignore[arg-type]


def sealed(
    rec: RequestRecord, text: str, *, keyring: PayloadKeyring = KEY, raw: bytes | None = None
) -> SealedRecord:
    body = raw or orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": text}]})
    response = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"re {text}"}}]
    }
    draft = PayloadDraft("full", body, response)
    return SealedRecord(rec, Sealer(keyring, PatternRedactor())(rec, draft))


@pytest.fixture
def records(engine: Engine) -> Engine:
    """20 captured chat records (req_000..019) and, around them, records not to be sampled."""
    entries: list[Entry] = [sealed(record(n), f"question {n}") for n in range(20)]
    entries += [
        record(20),  # no payload
        record(21),  # no payload
        sealed(record(22, status=429), "limited"),
        sealed(record(23, public_model="other"), "other model"),
        sealed(record(24, endpoint="embeddings"), "an embedding"),
        sealed(record(25, team_id="team_b", user="bob"), "team b"),
        sealed(record(26, created_at=NOW - timedelta(days=2)), "old"),
    ]
    insert_entries(engine, entries)
    return engine


def where(**fields: object) -> store.RecordFilter:
    values: dict[str, object] = {"public_model": "chat", "team_id": "team_a", "since": NOW}
    values.update(fields)
    return store.RecordFilter(**values)  # type: ignore[arg-type]


def test_a_seeded_sample_is_repeatable_and_made_of_captured_calls(records: Engine) -> None:
    drawn = sample_records(records, KEY, where(), count=5, seed=7)
    assert (drawn.matched, drawn.uncaptured, len(drawn.items), drawn.seed) == (22, 2, 5, 7)
    assert drawn == sample_records(records, KEY, where(), count=5, seed=7)
    assert drawn.items != sample_records(records, KEY, where(), count=5, seed=8).items
    for item in drawn.items:
        assert item.messages is not None
        text = item.messages[0]["content"]
        assert item.expected == f"re {text}"
        n = int(text.removeprefix("question "))
        assert item.tags == ("from-records", f"request:req_{n:03}")
        assert item.id == content_id(messages=item.messages)


def test_asking_for_more_takes_every_usable_record(records: Engine) -> None:
    drawn = sample_records(records, KEY, where(), count=100, seed=1)
    assert len(drawn.items) == 20 and drawn.uncaptured == 2
    assert sample_records(records, KEY, where(status=None), count=100, seed=1).matched == 23


FILTERS: list[tuple[dict[str, object], set[str]]] = [
    ({"status": "429"}, {"limited"}),
    ({"status": "4xx"}, {"limited"}),
    ({"public_model": "other"}, {"other model"}),
    ({"team_id": "team_b"}, {"team b"}),
    ({"team_id": None, "user": "bob"}, {"team b"}),
    ({"since": None, "until": NOW}, {"old"}),
    ({"since": NOW + timedelta(minutes=18), "until": NOW + timedelta(minutes=19)}, {"question 18"}),
]


def test_filters_choose_the_records(records: Engine) -> None:
    for fields, texts in FILTERS:  # one database for all: each costs a PostgreSQL database
        drawn = sample_records(records, KEY, where(**fields), count=50, seed=0)
        assert {i.messages[0]["content"] for i in drawn.items if i.messages} == texts, fields


def test_the_prompt_filter(records: Engine) -> None:
    with records.begin() as connection:
        statement = update(requests).where(requests.c.id.in_(["req_003", "req_004"]))
        connection.execute(statement.values(prompt_name="triage"))
    drawn = sample_records(records, KEY, where(prompt_name="triage"), count=50, seed=0)
    assert sorted(i.tags[1] for i in drawn.items) == ["request:req_003", "request:req_004"]


def test_unreadable_unusable_duplicate_and_taken_records_are_counted(engine: Engine) -> None:
    insert_entries(
        engine,
        [
            sealed(record(0), "same"),
            sealed(record(1), "same"),
            sealed(record(2), "secret", keyring=OTHER_KEY),
            sealed(record(3), "", raw=b"not json at all"),
            sealed(record(4), "taken"),
            sealed(record(5), "fresh"),
        ],
    )
    taken = {content_id(messages=[{"role": "user", "content": "taken"}])}
    drawn = sample_records(engine, KEY, where(), count=10, seed=3, taken=taken)
    assert sorted(i.messages[0]["content"] for i in drawn.items if i.messages) == ["fresh", "same"]
    assert (drawn.matched, drawn.uncaptured) == (6, 0)
    assert (drawn.unreadable, drawn.unusable, drawn.duplicates) == (1, 1, 2)
    without_keys = sample_records(engine, None, where(), count=10, seed=3)
    assert without_keys.unreadable == 6 and not without_keys.items


def test_record_filter_validation() -> None:
    with pytest.raises(InvalidRequestError, match="neither a status"):
        store.RecordFilter(public_model="m", status="ok")
    with pytest.raises(InvalidRequestError, match="before `until`"):
        store.RecordFilter(public_model="m", since=NOW, until=NOW)
    naive = store.RecordFilter(public_model="m", since=datetime(2026, 1, 1))
    assert naive.since == datetime(2026, 1, 1, tzinfo=UTC)
