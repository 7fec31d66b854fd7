"""The secrets guard's patterns and masking, and the limits guard's messages."""

from __future__ import annotations

import asyncio

import pytest

from steward.config.guards_input import LimitsGuardConfig, SecretsGuardConfig
from steward.guards.base import GuardInput
from steward.guards.limits import LimitsGuard
from steward.guards.secrets import SecretsGuard

SECRETS = [
    "sk-proj-abcdefghijklmnopqrstuvwx1234",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a1" * 18,
    "xoxb-1234567890-abcdefghij",
    "AIza" + "SyB4kX9pL2mQ7vT1cR8nW3eJ6hF0dG5aZ-u",
    "hf_" + "QwcelgynPVwxHtUuvtvaUhDAbuJeoqZSZa",
    "npm_" + "h3jZzpbttqD41bhQe9suBYpvivBvFlQCUa2h",
    "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",
    "SK5aae7ff48e394cd7545489693d329396",
    "dop_v1_" + "960475ba9a7a81d4d3412da0c782fd5507a1f5376810a8bf61c63aa89b378937",
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
]


def run(guard: object, *texts: str) -> tuple[str, dict[int, str] | None]:
    inputs = [GuardInput(i, "user", t) for i, t in enumerate(texts)]
    verdict = asyncio.run(guard.check(inputs))  # type: ignore[attr-defined]
    return verdict.decision.action, verdict.replacements


@pytest.mark.parametrize("secret", SECRETS)
def test_each_kind_of_secret_is_masked(secret: str) -> None:
    action, replaced = run(SecretsGuard(SecretsGuardConfig()), f"my key is {secret} ok")
    assert action == "mask" and replaced == {0: "my key is <SECRET> ok"}


def test_passwords_and_bearer_tokens_and_block() -> None:
    _, replaced = run(
        SecretsGuard(SecretsGuardConfig()), "password=hunter22 and Bearer abcdefghijklmnop1234"
    )
    assert replaced == {0: "password=<SECRET> and Bearer <SECRET>"}
    action, replaced = run(SecretsGuard(SecretsGuardConfig(action="block")), "AKIAIOSFODNN7EXAMPLE")
    assert action == "block" and replaced is None


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("DB_PASSWORD=pD#%eA3&hQdrfW03", "DB_PASSWORD=<SECRET>"),
        ("postgres://app:s3cretpass@db:5432/prod", "postgres://app:<SECRET>@db:5432/prod"),
        ('secret: "Zq81-xYw!kP"', 'secret: "<SECRET>"'),
    ],
)
def test_passwords_in_names_and_urls(text: str, masked: str) -> None:
    assert run(SecretsGuard(SecretsGuardConfig()), text)[1] == {0: masked}


@pytest.mark.parametrize(
    "text",
    [
        "Replace sk-xxxxxxxxxxxxxxxxxxxxxxxx with your own key.",
        "Set OPENAI_API_KEY=sk-... in your .env file.",
        "api_key = os.environ['OPENAI_API_KEY']",
        'client = OpenAI(api_key=os.getenv("OPENAI_API_KEY"))',
        "DB_PASSWORD=${DB_PASSWORD}",
        "password: ********",
        "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
        "password_reset_url = https://example.com/reset",
    ],
)
def test_placeholders_and_code_are_not_secrets(text: str) -> None:
    assert run(SecretsGuard(SecretsGuardConfig()), text)[0] == "allow"


def test_ordinary_text_passes() -> None:
    assert run(SecretsGuard(SecretsGuardConfig()), "What is a good password length?")[0] == "allow"


def test_limits_name_the_limit_and_value() -> None:
    guard = LimitsGuard(LimitsGuardConfig(max_chars=10, max_messages=2, max_tokens=1000))
    action, _ = run(guard, "short")
    assert action == "allow"
    verdict = asyncio.run(guard.check([GuardInput(0, "user", "x" * 11)]))
    assert verdict.decision.action == "block"
    assert (
        "11 characters" in guard.refusal(verdict.decision)
        and "max_chars" in verdict.decision.detail
    )  # type: ignore[operator]
    many = asyncio.run(guard.check([GuardInput(i, "user", "a") for i in range(3)]))
    assert "3 messages" in (many.decision.detail or "")
    tokens = LimitsGuard(LimitsGuardConfig(max_tokens=5))
    assert (
        asyncio.run(tokens.check([GuardInput(0, "user", "word " * 20)])).decision.action == "block"
    )
