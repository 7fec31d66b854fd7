"""`steward audit list|verify` in a subprocess, against a SQLite file edited behind its back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.servers import write_config

from steward.config.loading import load_config
from steward.storage import audit, database


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose SQLite database holds three audit entries."""
    path = write_config(tmp_path, "")
    loaded = load_config(path, environ={})
    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    for n, team in enumerate(["team_a", None, "team_b"]):
        with engine.begin() as connection:
            entry = audit.AuditEntry(
                "key_admin", "alice", "team.update", "team", f"team_{n}", team, after={"n": n}
            )
            audit.append(connection, entry)
    engine.dispose()
    return path


def steward(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "steward", "audit", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_verify_passes_then_catches_an_edited_row(config: Path) -> None:
    intact = steward(config, "verify")
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.strip() == "audit log intact: 3 entries verified"
    with sqlite3.connect(config.parent / "steward.db") as connection:
        connection.execute("""UPDATE audit_log SET "after" = '{"n":42}' WHERE seq = 2""")
    tampered = steward(config, "verify")
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("audit log TAMPERED at entry 2: ")


def test_verify_catches_a_deleted_last_row(config: Path) -> None:
    with sqlite3.connect(config.parent / "steward.db") as connection:
        connection.execute("DELETE FROM audit_log WHERE seq = 3")
    tampered = steward(config, "verify")
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("audit log TAMPERED at entry 3: ")


def test_list_shows_entries_newest_first_and_filters_by_team(config: Path) -> None:
    listing = steward(config, "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert lines[1].split()[2:] == ["alice", "team.update", "team:team_1", "org"]
    team = steward(config, "list", "--team", "team_b", "--limit", "5")
    assert [line.split()[0] for line in team.stdout.splitlines()] == ["3"]
