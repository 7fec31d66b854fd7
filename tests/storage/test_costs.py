"""The cost report and projection, on SQLite and PostgreSQL, against sums computed in Python."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from steward.errors import InvalidRequestError
from steward.storage.costs import (
    CostQuery,
    CostReport,
    CostSums,
    Dimension,
    cost_report,
    month_projection,
    report_json,
)
from steward.storage.records import RequestRecord
from steward.storage.requests import insert_records

SINCE = datetime(2025, 3, 1, tzinfo=UTC)
UNTIL = datetime(2025, 3, 4, tzinfo=UTC)
# Late in the evening UTC: a database that buckets days in its session time zone gets these wrong.
OFFSETS = (timedelta(0), timedelta(hours=9, minutes=30), timedelta(hours=23, minutes=30))


def record(
    id_: str, at: datetime, cost: float | None, *, team: str | None = "team_a", **fields: object
) -> RequestRecord:
    values: dict[str, object] = {
        "endpoint": "chat",
        "status": 200,
        "latency_ms": 10.0,
        "config_hash": "0123456789abcdef",
        "public_model": "gpt",
        "target": "up/gpt-test",
        "input_tokens": 10,
        "output_tokens": 5,
        **fields,
    }
    return RequestRecord(id=id_, created_at=at, team_id=team, cost_usd=cost, **values)  # type: ignore[arg-type]


def dataset() -> list[RequestRecord]:
    """54 records over 3 days, 2 teams, 2 apps, 2 models, 2 routes; every 9th one unpriced."""
    records = []
    for i in range(54):
        team, app = f"team_{'ab'[(i // 3) % 2]}", f"app_{(i // 6) % 2}"
        at = SINCE + timedelta(days=i % 3) + OFFSETS[(i // 2) % 3] + timedelta(seconds=i)
        records.append(
            record(
                f"r{i:03d}",
                at,
                None if i % 9 == 4 else (i % 5 + 1) / 8,  # eighths: sums are exact in any order
                team=team,
                app_id=f"{team}.{app}",
                key_id=f"key_{team}_{app}",
                public_model=("gpt", "claude")[(i // 2) % 2],
                target=("up/m-one", "alt/m-two")[(i // 5) % 2],
                input_tokens=100 + i,
                output_tokens=i,
                cache=("hit", "semantic", "miss", None)[i % 4],
            )
        )
    # Just outside the window on each side.
    records.append(record("before", SINCE - timedelta(microseconds=1), 50.0))
    records.append(record("at-until", UNTIL, 50.0))
    return records


KEYS: dict[Dimension, Callable[[RequestRecord], str | None]] = {
    "day": lambda r: r.created_at.date().isoformat(),
    "team": lambda r: r.team_id,
    "app": lambda r: r.app_id,
    "model": lambda r: r.public_model,
    "route": lambda r: r.target,
    "key": lambda r: r.key_id,
}


def expected(
    records: Sequence[RequestRecord], group_by: Sequence[Dimension]
) -> dict[tuple[str | None, ...], CostSums]:
    groups: dict[tuple[str | None, ...], list[RequestRecord]] = defaultdict(list)
    for r in records:
        if SINCE <= r.created_at < UNTIL:
            groups[tuple(KEYS[d](r) for d in group_by)].append(r)
    return {key: sums(rs) for key, rs in groups.items()}


def sums(records: Sequence[RequestRecord]) -> CostSums:
    return CostSums(
        requests=len(records),
        input_tokens=sum(r.input_tokens or 0 for r in records),
        output_tokens=sum(r.output_tokens or 0 for r in records),
        cost_usd=sum(r.cost_usd or 0.0 for r in records),
        cache_hits=sum(r.cache in ("hit", "semantic") for r in records),
        unpriced_requests=sum(r.cost_usd is None for r in records),
    )


def as_dict(report: CostReport) -> dict[tuple[str | None, ...], CostSums]:
    group_by = report.query.group_by
    return {tuple(row.dimensions[d] for d in group_by): row.sums for row in report.rows}


def assert_ordered(report: CostReport) -> None:
    """By day first (when grouped by day), then by cost, highest first."""
    grouped_by_day = "day" in report.query.group_by
    keys = [
        (row.dimensions.get("day", "") if grouped_by_day else "", -row.sums.cost_usd)
        for row in report.rows
    ]
    assert keys == sorted(keys)


@pytest.fixture
def stored(engine: Engine) -> list[RequestRecord]:
    if engine.dialect.name == "postgresql":
        _use_session_time_zone(engine, "Pacific/Auckland")
    records = dataset()
    insert_records(engine, records)
    return records


def _use_session_time_zone(engine: Engine, zone: str) -> None:
    """New connections get `zone` as their time zone, so UTC days must not depend on it."""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"ALTER DATABASE \"{engine.url.database}\" SET timezone TO '{zone}'"
        )
    engine.dispose()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW timezone").scalar() == zone


GROUPINGS: list[tuple[Dimension, ...]] = [
    ("day",),
    ("team",),
    ("app",),
    ("model",),
    ("route",),
    ("key",),
    ("day", "team"),
    ("day", "model", "route"),
    ("team", "app", "model", "route"),
    (),
]


@pytest.mark.parametrize("group_by", GROUPINGS, ids=lambda g: "+".join(g) or "none")
def test_every_grouping_matches_python_sums(
    engine: Engine, stored: list[RequestRecord], group_by: tuple[Dimension, ...]
) -> None:
    report = cost_report(engine, CostQuery(since=SINCE, until=UNTIL, group_by=group_by))
    assert as_dict(report) == expected(stored, group_by)
    assert report.totals == expected(stored, ())[()]
    assert_ordered(report)


def test_days_are_utc_dates(engine: Engine, stored: list[RequestRecord]) -> None:
    report = cost_report(engine, CostQuery(since=SINCE, until=UNTIL, group_by=("day",)))
    assert [row.dimensions["day"] for row in report.rows] == [
        "2025-03-01",
        "2025-03-02",
        "2025-03-03",
    ]
    assert [row.sums.requests for row in report.rows] == [18, 18, 18]


def test_a_team_sees_only_its_own_spend(engine: Engine, stored: list[RequestRecord]) -> None:
    by_team = {}
    for team in ("team_a", "team_b"):
        query = CostQuery(since=SINCE, until=UNTIL, group_by=("team", "model"), team_id=team)
        report = cost_report(engine, query)
        own = [r for r in stored if r.team_id == team]
        assert {row.dimensions["team"] for row in report.rows} == {team}
        assert as_dict(report) == expected(own, ("team", "model"))
        assert report.totals == expected(own, ())[()]
        by_team[team] = report.totals
    org = cost_report(engine, CostQuery(since=SINCE, until=UNTIL, group_by=("day",))).totals
    assert by_team["team_a"].cost_usd != by_team["team_b"].cost_usd
    assert by_team["team_a"].cost_usd + by_team["team_b"].cost_usd == org.cost_usd
    assert by_team["team_a"].requests + by_team["team_b"].requests == org.requests


def test_the_window_is_half_open(engine: Engine, stored: list[RequestRecord]) -> None:
    day_two = SINCE + timedelta(days=1)
    query = CostQuery(since=day_two, until=day_two + timedelta(days=1), group_by=("day",))
    report = cost_report(engine, query)
    inside = [r for r in stored if day_two <= r.created_at < day_two + timedelta(days=1)]
    assert [row.dimensions["day"] for row in report.rows] == ["2025-03-02"]
    assert report.totals == sums(inside)
    whole = cost_report(engine, CostQuery(since=SINCE, until=UNTIL)).totals
    assert whole.requests == 54  # "before" and "at-until" are left out
    assert whole.cost_usd < 50


def test_unpriced_records_cost_nothing_but_are_counted(
    engine: Engine, stored: list[RequestRecord]
) -> None:
    report = cost_report(engine, CostQuery(since=SINCE, until=UNTIL, group_by=("model",)))
    unpriced = [r for r in stored if r.cost_usd is None]
    assert report.totals.unpriced_requests == len(unpriced) == 6
    assert sum(row.sums.unpriced_requests for row in report.rows) == 6
    assert report.totals.requests == 54


def test_filters_by_model_and_app(engine: Engine, stored: list[RequestRecord]) -> None:
    query = CostQuery(
        since=SINCE, until=UNTIL, group_by=("route",), model="claude", app_id="team_b.app_1"
    )
    chosen = [r for r in stored if r.public_model == "claude" and r.app_id == "team_b.app_1"]
    assert chosen
    assert as_dict(cost_report(engine, query)) == expected(chosen, ("route",))


def test_an_empty_window_reports_zeros(engine: Engine, stored: list[RequestRecord]) -> None:
    query = CostQuery(since=UNTIL + timedelta(days=30), until=UNTIL + timedelta(days=31))
    report = cost_report(engine, query)
    assert report.rows == ()
    assert report.totals == CostSums(0, 0, 0, 0.0, 0, 0)


def test_invalid_queries_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="before"):
        CostQuery(since=UNTIL, until=SINCE)
    with pytest.raises(InvalidRequestError, match="group_by"):
        CostQuery(since=SINCE, until=UNTIL, group_by=("week",))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="group_by"):
        CostQuery(since=SINCE, until=UNTIL, group_by=("day", "day"))


def _projection_records() -> list[RequestRecord]:
    march = datetime(2025, 3, 1, tzinfo=UTC)
    return [
        record("p1", march, 1.0),  # month to date only
        record("p2", datetime(2025, 3, 4, 12, tzinfo=UTC), 2.0),  # first instant of the 7 days
        record("p3", datetime(2025, 3, 10, 8, tzinfo=UTC), 0.5),
        record("p4", datetime(2025, 3, 11, 11, 59, 59, tzinfo=UTC), 0.25),
        record("p5", datetime(2025, 3, 11, 12, tzinfo=UTC), 100.0),  # at `now`: not yet
        record("p6", datetime(2025, 2, 28, 12, tzinfo=UTC), 8.0),  # last month, 11 days ago
        record("p7", datetime(2025, 3, 6, tzinfo=UTC), None),
        record("p8", datetime(2025, 3, 5, tzinfo=UTC), 16.0, team="team_b"),
        record("p9", datetime(2025, 3, 29, tzinfo=UTC), 7.0),  # for the April projection
        record("p10", datetime(2025, 4, 1, 1, tzinfo=UTC), 0.5),
    ]


def test_projection_is_a_linear_run_rate(engine: Engine) -> None:
    insert_records(engine, _projection_records())
    now = datetime(2025, 3, 11, 12, tzinfo=UTC)
    team_a = month_projection(engine, now=now, team_id="team_a")
    assert team_a.month_start == datetime(2025, 3, 1, tzinfo=UTC)
    assert (team_a.days_in_month, team_a.days_elapsed) == (31, 10.5)
    assert (team_a.mtd_cost_usd, team_a.last_7d_cost_usd) == (3.75, 2.75)
    assert team_a.projected_cost_usd == pytest.approx(3.75 / 10.5 * 31, abs=1e-12)
    assert team_a.projected_cost_7d_usd == pytest.approx(3.75 + 2.75 / 7 * 20.5, abs=1e-12)
    org = month_projection(engine, now=now, team_id=None)
    assert (org.mtd_cost_usd, org.last_7d_cost_usd) == (19.75, 18.75)
    assert org.projected_cost_usd == pytest.approx(19.75 / 10.5 * 31, abs=1e-12)


def test_projection_in_the_first_hours_of_a_month(engine: Engine) -> None:
    insert_records(engine, _projection_records())
    early = month_projection(engine, now=datetime(2025, 4, 1, 6, tzinfo=UTC), team_id="team_a")
    assert (early.days_in_month, early.days_elapsed) == (30, 0.25)
    assert (early.mtd_cost_usd, early.last_7d_cost_usd) == (0.5, 7.5)
    assert early.projected_cost_usd is None
    assert early.projected_cost_7d_usd == pytest.approx(0.5 + 7.5 / 7 * 29.75, abs=1e-12)
    start = month_projection(engine, now=datetime(2025, 4, 1, tzinfo=UTC), team_id="team_a")
    assert (start.days_elapsed, start.mtd_cost_usd, start.projected_cost_usd) == (0.0, 0.0, None)
    assert start.projected_cost_7d_usd == pytest.approx(7.0 / 7 * 30, abs=1e-12)
    leap = month_projection(engine, now=datetime(2024, 2, 15, tzinfo=UTC), team_id=None)
    assert (leap.days_in_month, leap.projected_cost_usd) == (29, 0.0)


def test_report_json_shape_and_rounding(engine: Engine) -> None:
    day = datetime(2025, 3, 2, tzinfo=UTC)
    insert_records(engine, [record("j1", day, 1 / 3), record("j2", day, None, cache="hit")])
    query = CostQuery(since=SINCE, until=UNTIL, group_by=("day", "model"), team_id="team_a")
    now = datetime(2025, 3, 3, tzinfo=UTC)
    body = report_json(
        cost_report(engine, query), month_projection(engine, now=now, team_id="team_a")
    )
    assert json.loads(json.dumps(body)) == body
    sums = {
        "requests": 2,
        "input_tokens": 20,
        "output_tokens": 10,
        "cost_usd": 0.333333,
        "cache_hits": 1,
        "unpriced_requests": 1,
    }
    assert body == {
        "since": "2025-03-01T00:00:00+00:00",
        "until": "2025-03-04T00:00:00+00:00",
        "group_by": ["day", "model"],
        "team_id": "team_a",
        "rows": [{"day": "2025-03-02", "model": "gpt", **sums}],
        "totals": sums,
        "projection": {
            "month": "2025-03",
            "now": "2025-03-03T00:00:00+00:00",
            "days_in_month": 31,
            "days_elapsed": 2.0,
            "mtd_cost_usd": 0.333333,
            "last_7d_cost_usd": 0.333333,
            "projected_cost_usd": round(1 / 3 / 2 * 31, 6),
            "projected_cost_7d_usd": round(1 / 3 + 1 / 3 / 7 * 29, 6),
        },
    }
    assert report_json(cost_report(engine, query), None)["projection"] is None
