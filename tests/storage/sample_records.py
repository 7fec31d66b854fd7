"""Request records for storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from steward.storage.records import RequestRecord


def make_records(count: int, *, start: int = 0, prefix: str = "req") -> list[RequestRecord]:
    """Distinct records, one second apart, so ordering by time is unambiguous."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        RequestRecord(
            id=f"{prefix}-{i:06d}",
            created_at=base + timedelta(seconds=i),
            endpoint="chat",
            status=200 if i % 7 else 502,
            latency_ms=12.5 + i,
            config_hash="0123456789abcdef",
            stream=i % 2 == 0,
            key_id="key_0001" if i % 3 else None,
            public_model="gpt",
            target="up/gpt-test",
            error_type=None if i % 7 else "upstream_error",
            ttft_ms=3.25 if i % 2 == 0 else None,
            input_tokens=10 + i,
            output_tokens=2,
        )
        for i in range(start, start + count)
    ]
