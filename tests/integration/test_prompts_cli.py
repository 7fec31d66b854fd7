"""`steward prompts ...` on a real SQLite database: push files, list, show, diff, label, rollback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.servers import write_config

GREET = """
model = "gpt"
description = "Greets a customer"

[params]
temperature = 0.2

[variables]
type = "object"
required = ["name"]

[[messages]]
role = "system"
content = "You greet people."

[[messages]]
role = "user"
content = "{greeting}, {{{{ name }}}}!"
"""


def steward(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "steward", "prompts", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=config.parent,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    config = write_config(tmp_path, "")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "greet.toml").write_text(GREET.format(greeting="Hello"))
    return config


def test_push_is_idempotent_and_versions_changes(project: Path) -> None:
    first = steward(project, "push")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "greet: v1 (new version)"
    assert steward(project, "push").stdout.strip() == "greet: v1 (unchanged)"
    (project.parent / "prompts" / "greet.toml").write_text(GREET.format(greeting="Howdy"))
    staged = steward(project, "push", "--label", "staging")
    assert staged.stdout.strip() == "greet: v2 (new version, labelled staging)"
    listing = steward(project, "list").stdout
    assert "greet  latest v2  staging=v2" in listing

    shown = steward(project, "show", "greet@1")
    assert shown.returncode == 0, shown.stderr
    assert 'content = "Hello, {{ name }}!"' in shown.stdout
    assert "greet v1, by cli:" in shown.stdout

    diff = steward(project, "diff", "greet", "1", "staging")
    assert diff.returncode == 1
    assert '-content = "Hello, {{ name }}!"' in diff.stdout
    assert '+content = "Howdy, {{ name }}!"' in diff.stdout
    same = steward(project, "diff", "greet", "2", "staging")
    assert (same.returncode, same.stdout.strip()) == (0, "greet v2 and v2 are identical")


def test_promotion_is_gated_forced_moves_are_audited_and_rollback_works(project: Path) -> None:
    steward(project, "push")
    (project.parent / "prompts" / "greet.toml").write_text(GREET.format(greeting="Howdy"))
    steward(project, "push")
    refused = steward(project, "label", "greet", "production", "2")
    assert refused.returncode == 1
    assert "no gate run has tested it" in refused.stderr
    assert "steward eval gate" in refused.stderr
    assert steward(project, "label", "greet", "production", "1", "--force").returncode == 0
    moved = steward(project, "label", "greet", "production", "2", "--force")
    assert moved.stdout.strip() == "greet: production -> v2 (was v1) [forced]"
    back = steward(project, "rollback", "greet")
    assert back.stdout.strip() == "greet: production -> v1 (was v2)"
    audit = subprocess.run(
        [sys.executable, "-m", "steward", "audit", "list", "--config", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.stdout.count("prompt.label") == 2 and "prompt.rollback" in audit.stdout


def test_bad_files_and_refs_get_clear_errors(project: Path) -> None:
    (project.parent / "prompts" / "broken.toml").write_text('model = "gpt"\nmessages = []\n')
    bad = steward(project, "push")
    assert bad.returncode == 1
    assert "broken.toml: 'messages'" in bad.stderr
    (project.parent / "prompts" / "broken.toml").write_text(
        'model = "gpt"\n[[messages]]\nrole = "user"\ncontent = "{{ oops"\n'
    )
    bad = steward(project, "push")
    assert "does not compile" in bad.stderr
    (project.parent / "prompts" / "broken.toml").unlink()
    steward(project, "push")
    missing = steward(project, "show", "greet@9")
    assert missing.returncode == 1 and "has no version 9; it has versions 1 to 1" in missing.stderr
