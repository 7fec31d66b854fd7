"""Escalation items on SQLite and PostgreSQL: sealed rows stored once (a replayed spool skips
what is there), listed newest first by status and model, resolved once, opened with the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from steward.errors import PayloadKeyError
from steward.guards.output.escalation import EscalationItem, open_context, seal_item
from steward.payloads.keys import PayloadKeyring
from steward.storage.escalations import (
    get_escalation,
    insert_escalations,
    list_escalations,
    resolve_escalation,
)

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
KEYRING = PayloadKeyring([b"e" * 32])


def item(n: int, model: str = "support") -> EscalationItem:
    return EscalationItem(
        id=f"esc_{n:03d}",
        created_at=T0 + timedelta(seconds=n),
        request_id=f"req_{n}",
        public_model=model,
        team_id="team_a",
        reason="low_confidence",
        confidence=0.2,
        context={"request": {"q": f"question {n}"}, "response": "answer", "guards": []},
    )


def test_rows_are_stored_once_listed_and_resolved(engine: Engine) -> None:
    rows = [seal_item(item(n, "support" if n % 2 else "sales"), KEYRING) for n in range(1, 6)]
    insert_escalations(engine, rows)
    insert_escalations(engine, rows[:2])  # a spool replayed after a crash: no duplicates
    listed = list_escalations(engine)
    assert [r.id for r in listed] == ["esc_005", "esc_004", "esc_003", "esc_002", "esc_001"]
    assert [r.id for r in list_escalations(engine, model="sales")] == ["esc_004", "esc_002"]
    assert resolve_escalation(engine, "esc_003")
    assert not resolve_escalation(engine, "esc_003")
    assert not resolve_escalation(engine, "esc_999")
    assert [r.id for r in list_escalations(engine, status="resolved")] == ["esc_003"]
    assert len(list_escalations(engine, status="open", limit=2)) == 2
    stored = get_escalation(engine, "esc_001")
    assert stored is not None and stored.created_at == T0 + timedelta(seconds=1)
    assert b"question" not in stored.context
    assert open_context(stored, KEYRING)["request"] == {"q": "question 1"}
    with pytest.raises(PayloadKeyError):
        open_context(stored, PayloadKeyring([b"x" * 32]))


def test_plaintext_rows_when_no_keys_are_configured(engine: Engine) -> None:
    insert_escalations(engine, [seal_item(item(7), None)])
    stored = get_escalation(engine, "esc_007")
    assert stored is not None and stored.key_id is None
    assert open_context(stored, None)["response"] == "answer"
