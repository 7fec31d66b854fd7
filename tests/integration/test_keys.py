"""Keys: created and revoked with the CLI, checked from memory, revocation seen within seconds."""

from __future__ import annotations

import subprocess
import sys
import time

import openai
import pytest
from tests.servers import Gateway

from steward.storage import keys

USER = [{"role": "user", "content": "hi"}]


def test_revoked_key_stops_working_within_the_refresh_interval(
    gateway: tuple[Gateway, str],
) -> None:
    gw, key = gateway
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        c.chat.completions.create(model="gpt", messages=USER)
        revoked = keys.revoke_key(gw.runtime.engine, key)
        assert revoked.revoked_at is not None
        deadline = time.monotonic() + 5  # auth.refresh_interval_s is 2 s by default
        while time.monotonic() < deadline:
            try:
                c.chat.completions.create(model="gpt", messages=USER)
            except openai.AuthenticationError:
                return
            time.sleep(0.1)
    pytest.fail("a revoked key was still accepted after 5 s")


def test_cli_create_list_revoke(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    config = str(gw.loaded.path)

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "steward", "keys", *args, "--config", config],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout

    created = cli("create", "--name", "billing-app", "--role", "app")
    secret = created.strip().splitlines()[-1]
    key_id = created.split()[2]
    assert secret.startswith("sk-stw-")
    listing = cli("list")
    assert "billing-app" in listing and secret not in listing
    assert "revoked key" in cli("revoke", key_id)
    assert any("billing-app" in line and "revoked" in line for line in cli("list").splitlines())


def test_cli_teams_apps_app_keys_and_budgets(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    config = str(gw.loaded.path)

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "steward", *args, "--config", config],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    team_id = cli("teams", "create", "payments", "--rpm", "100").split()[2]
    app_id = cli("apps", "create", "checkout", "--team", team_id).split()[2]
    assert "rpm 100" in cli("teams", "list") and "checkout" in cli("apps", "list")
    created = cli("keys", "create", "--name", "checkout-prod", "--app", app_id)
    key_id, secret = created.split()[2], created.strip().splitlines()[-1]
    assert any(
        app_id in line and "checkout-prod" in line for line in cli("keys", "list").splitlines()
    )
    budget_id = (
        cli("budgets", "create", "--scope", "app", "--id", app_id, "--limit-usd", "5")
        .split()[2]
        .rstrip(":")
    )
    assert budget_id in cli("budgets", "list")
    rotated = cli("keys", "rotate", key_id, "--overlap-s", "60")
    assert rotated.strip().splitlines()[-1].startswith("sk-stw-")
    assert rotated.strip().splitlines()[-1] != secret
    assert "deleted budget" in cli("budgets", "delete", budget_id)
    audit = cli("audit", "list")
    assert "team.create" in audit and "key.rotate" in audit and "steward CLI" in audit
    assert "intact" in cli("audit", "verify")
