"""The escalation writer: sealed rows reach the database, or the spool while it is down."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from steward.errors import OutputGuardError
from steward.guards.output.escalation import EscalationItem, open_context
from steward.guards.output.escalation_writer import EscalationWriter
from steward.payloads.keys import PayloadKeyring
from steward.routing.retry import verdict
from steward.storage import database
from steward.storage.escalations import get_escalation, list_escalations, resolve_escalation


def item(n: int) -> EscalationItem:
    return EscalationItem(
        id=f"esc_{n}",
        created_at=datetime.now(UTC),
        request_id=f"req_{n}",
        public_model="m",
        team_id=None,
        reason="low_confidence",
        confidence=0.1,
        context={"request": {"n": n}, "response": None, "scores": {}, "guards": []},
    )


def test_items_are_sealed_spooled_while_the_database_is_down_and_replayed(tmp_path: Path) -> None:
    keyring = PayloadKeyring([b"k" * 32])
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    down = database.make_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}")
    writer = EscalationWriter(down, keyring, tmp_path / "spool", retry_interval_s=0.0)
    writer.submit(item(1))
    assert writer.flush()
    assert writer.pending_spooled() == 1
    engine = database.make_engine(url)
    database.upgrade(engine)
    writer._engine = engine  # the database is back
    writer.submit(item(2))
    assert writer.flush()
    assert writer.pending_spooled() == 0
    rows = list_escalations(engine)
    assert {r.id for r in rows} == {"esc_1", "esc_2"}
    row = get_escalation(engine, "esc_1")
    assert row is not None and row.key_id is not None and b'"n"' not in row.context
    assert open_context(row, keyring)["request"] == {"n": 1}
    assert resolve_escalation(engine, "esc_1") and not resolve_escalation(engine, "esc_1")
    writer.stop()
    engine.dispose()
    down.dispose()


def test_an_answer_the_output_guards_reject_moves_to_the_next_target() -> None:
    assert verdict(OutputGuardError("schema", "invalid")) == "next"
