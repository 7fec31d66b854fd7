"""Record writer throughput: submit N records, time until all are committed; SQLite and PostgreSQL.

    python bench/writer_throughput.py [--records 50000] [--batch-size 500]

PostgreSQL comes from STEWARD_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
the benchmark creates a scratch database there and drops it afterwards. Target: >= 5,000 records/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from steward.observe.writer import RecordWriter
from steward.storage import database
from steward.storage.records import RequestRecord
from steward.storage.requests import count_records

POSTGRES_URL = os.environ.get(
    "STEWARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TARGET_RECORDS_PER_S = 5_000


def make_records(count: int) -> list[RequestRecord]:
    base = datetime.now(UTC)
    return [
        RequestRecord(
            id=uuid.uuid4().hex,
            created_at=base + timedelta(microseconds=i),
            endpoint="chat",
            status=200,
            latency_ms=123.456,
            config_hash="0123456789abcdef",
            stream=i % 2 == 0,
            key_id="key_0123456789abcdef",
            public_model="gpt-4o-mini",
            target="openai/gpt-4o-mini",
            ttft_ms=45.6 if i % 2 == 0 else None,
            input_tokens=512,
            output_tokens=128,
        )
        for i in range(count)
    ]


def run(name: str, url: str, records: list[RequestRecord], batch_size: int) -> None:
    engine = database.make_engine(url)
    database.upgrade(engine)
    with tempfile.TemporaryDirectory() as spool_dir:
        writer = RecordWriter(engine, spool_dir=Path(spool_dir), batch_size=batch_size)
        writer.start()
        started = time.perf_counter()
        for record in records:
            writer.submit(record)
        submitted = time.perf_counter()
        assert writer.flush(timeout_s=120), "writer did not catch up within 120 s"
        finished = time.perf_counter()
        writer.stop()
    stats = writer.stats()
    stored = count_records(engine)
    engine.dispose()
    assert stored == len(records), (stored, stats)
    assert stats.spooled_records == 0, stats
    rate = len(records) / (finished - started)
    verdict = "ok" if rate >= TARGET_RECORDS_PER_S else "BELOW TARGET"
    print(
        f"{name:<10} {len(records):>7} records  {finished - started:6.2f} s  "
        f"{rate:>9,.0f} records/s  submit {(submitted - started) / len(records) * 1e6:.2f} µs  "
        f"[{verdict}]"
    )


@contextmanager
def scratch_postgres() -> Iterator[str | None]:
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=2)
    except Exception as exc:
        print(f"postgres   skipped: {POSTGRES_URL} unreachable ({exc})")
        yield None
        return
    name = f"steward_bench_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        run("sqlite", url, make_records(args.records), args.batch_size)
    with scratch_postgres() as pg_url:
        if pg_url:
            run("postgres", pg_url, make_records(args.records), args.batch_size)


if __name__ == "__main__":
    main()
