"""Secrets guard quality: detection per kind of credential and false positives on look-alikes.

    .venv/bin/python bench/secrets_quality.py         # --per-kind 25 --seed 7 --show

Positives: credentials generated in each issuer's published format (seeded; random bodies of
the documented alphabet and length), each placed in one of several contexts people paste into
a chat: a config file, a shell line, code, an HTTP request, a support message. Kinds the
guard has no pattern for (Hugging Face, npm, SendGrid, Twilio, DigitalOcean tokens, database
URLs with a password) are in the set too, so coverage is measured rather than assumed.
Negatives: text that looks like a credential and is not: placeholders (`sk-...`, `<your key>`,
`xxxx`), code that reads a key from the environment, hashes, UUIDs, commit ids, public keys,
base64 data, prose about passwords and tokens. A positive counts as detected when a finding
covers its secret; a negative is a false positive when anything is found in it.
Numbers in docs/guardrails.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from steward.config.guards_input import SecretsGuardConfig
from steward.guards.base import GuardInput
from steward.guards.secrets import MASK, SecretsGuard

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Item:
    kind: str
    text: str
    secret: str | None
    """The credential inside `text`; None for a negative."""


def chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(rng: random.Random) -> str:
    header = b64url({"alg": "HS256", "typ": "JWT"})
    payload = b64url({"sub": str(rng.randint(10**5, 10**9)), "iat": rng.randint(10**9, 2 * 10**9)})
    return f"{header}.{payload}.{chars(rng, URLSAFE, 43)}"


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = "\n".join(chars(rng, B64, 64) for _ in range(rng.randint(4, 12)))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


# Issuers' formats: prefix, alphabet and length of the random part, as their docs describe.
GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "openai": lambda r: "sk-" + chars(r, ALNUM, 48),
    "openai_project": lambda r: "sk-proj-" + chars(r, URLSAFE, 124),
    "anthropic": lambda r: "sk-ant-api03-" + chars(r, URLSAFE, 93) + "AA",
    "stripe_secret": lambda r: r.choice(["sk_live_", "rk_live_", "sk_test_"]) + chars(r, ALNUM, 24),
    "github": lambda r: r.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + chars(r, ALNUM, 36),
    "github_fine_grained": lambda r: f"github_pat_{chars(r, ALNUM, 22)}_{chars(r, ALNUM, 59)}",
    "slack": lambda r: (
        f"xoxb-{r.randint(10**10, 10**11)}-{r.randint(10**10, 10**11)}-" + chars(r, ALNUM, 24)
    ),
    "google": lambda r: "AIza" + chars(r, URLSAFE, 35),
    "gitlab": lambda r: "glpat-" + chars(r, URLSAFE, 20),
    "aws_access_key": lambda r: "AKIA" + chars(r, string.ascii_uppercase + "234567", 16),
    "jwt": jwt,
    "private_key": private_key,
    "password": lambda r: chars(r, ALNUM + "!#$%&*", r.randint(10, 20)),
    "bearer": lambda r: chars(r, URLSAFE + ".", r.randint(32, 64)),
    "aws_secret": lambda r: chars(r, B64, 40),
    # No pattern in the guard for these (coverage, measured):
    "huggingface": lambda r: "hf_" + chars(r, string.ascii_letters, 34),
    "npm": lambda r: "npm_" + chars(r, ALNUM, 36),
    "sendgrid": lambda r: f"SG.{chars(r, URLSAFE, 22)}.{chars(r, URLSAFE, 43)}",
    "twilio": lambda r: "SK" + chars(r, HEX, 32),
    "digitalocean": lambda r: "dop_v1_" + chars(r, HEX, 64),
    "database_url": lambda r: chars(r, string.ascii_lowercase + string.digits, 14),
}

# Where a secret shows up: {s} is the secret. Kinds with a context of their own are below.
CONTEXTS = (
    "Here is my config, why does it fail?\nAPI_KEY={s}\nTIMEOUT=30",
    "export TOKEN={s}",
    'client = Client(api_key="{s}")',
    "I keep getting 401 with the key {s}, can you check it?",
    "curl https://api.example.com/v1/items -H 'X-Api-Key: {s}'",
    "settings:\n  credentials: {s}\n  region: eu-west-1",
    "{s}",
    "My coworker sent me {s} for the staging account, is that safe to keep in Slack?",
)
OWN_CONTEXTS: dict[str, tuple[str, ...]] = {
    "password": (
        "DB_PASSWORD={s}",
        'password: "{s}"',
        "login failed with user admin, password={s}",
        "passwd = '{s}'",
    ),
    "bearer": (
        "curl -H 'Authorization: Bearer {s}' https://api.example.com/me",
        "GET /v1/me HTTP/1.1\nHost: api.example.com\nAuthorization: Bearer {s}",
    ),
    "aws_secret": (
        "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {s}",
        "AWS_SECRET_ACCESS_KEY={s}",
    ),
    "database_url": (
        "DATABASE_URL=postgres://app:{s}@db.internal:5432/prod",
        "mysql://root:{s}@10.0.0.12/shop keeps timing out, any idea?",
    ),
}

NEGATIVES = (
    # Placeholders and references, not values.
    "Set OPENAI_API_KEY=sk-... in your .env file before running the script.",
    "Replace sk-xxxxxxxxxxxxxxxxxxxxxxxx with your own key.",
    "api_key = os.environ['OPENAI_API_KEY']",
    'client = OpenAI(api_key=os.getenv("OPENAI_API_KEY"))',
    "Authorization: Bearer <token>",
    "Use the header `Authorization: Bearer YOUR_ACCESS_TOKEN`.",
    "password: ********",
    "DB_PASSWORD=${DB_PASSWORD}",
    "export GITHUB_TOKEN=$(gh auth token)",
    "aws_secret_access_key = <your secret here>",
    "token = get_token_from_vault()",
    "The key looks like AKIA followed by 16 characters.",
    # Prose about credentials.
    "How do I reset my password if I no longer have the recovery email?",
    "The password must be at least 12 characters long and contain a digit.",
    "What is the difference between an API key and an OAuth access token?",
    "Our JWTs expire after 15 minutes; how do refresh tokens work?",
    "Can a bearer token be revoked before it expires?",
    "Where do I find my API key in the dashboard?",
    "Is it safe to store a private key in an environment variable?",
    "My passphrase manager lost the entry, what now?",
    # Identifiers and data that look random.
    "Order 7f9c2ba4-e88f-4a3b-9c1d-2b5e6f7a8b9c never shipped.",
    "The fix is in commit 3f786850e387550fdab836ed7e6dc881de23001b.",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx8fE2nJ1VZ user@laptop",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "Tracking number 1Z999AA10123456784, please check.",
    "The Docker image digest is sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
    "Our Stripe publishable key goes in the checkout page script tag.",
    "Bitcoin address bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh for donations.",
    "Session id: 4f2a9c81d7e3b6a0, request id: 8c1e7f3a2b9d4e60.",
    "The skeleton key scene in the film is great: sk-8 skateboard scene.",
    "Use the tokenizer's pad token id 50256 and eos token id 50256.",
    "password_reset_url = https://example.com/reset",
    "The secret to good bread is a long, slow proof.",
    "pass: the ball to the left wing, then overlap.",
    "xox is a board game; xoxo means hugs and kisses.",
    "AIzawa is a common surname in the Tohoku region.",
    "In Python, `secrets.token_urlsafe(32)` generates a token.",
    "JWT stands for JSON Web Token; it has a header, a payload and a signature.",
)


HELD_OUT = (
    # Written after the patterns were fixed against the lists above, and not tuned on.
    "The API key is stored in AWS Secrets Manager under prod/api.",
    "Tokens per minute: 90,000; requests per minute: 3,500.",
    'ERROR: password authentication failed for user "postgres"',
    "Set `pass_through = true` in the config.",
    "Our CSS class names look like btn_primary_large_rounded_corners.",
    "git clone https://github.com/org/repo.git",
    "Open https://user@example.com/path in the browser.",
    "The file hash is d41d8cd98f00b204e9800998ecf8427e.",
    "Use `openssl rand -hex 32` to make a secret.",
    "secret_santa = True",
    "password_hint: your first pet",
    "Authorization header missing; expected 'Bearer' scheme.",
    "Here's the regex: ^sk-[A-Za-z0-9]{48}$",
    "A Stripe test card is 4242 4242 4242 4242.",
    "My WiFi is called SKYNET_5G_EXTENDED_NETWORK",
    "ghp_ tokens are GitHub personal access tokens.",
    "MongoDB URI format: mongodb://<username>:<password>@host:27017",
    "jdbc:postgresql://localhost:5432/test",
    "Checksum SKU: SK-1029-BLUE-XL",
    "The password field accepts up to 64 characters: pass=abc is too short.",
)


def items(per_kind: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    out: list[Item] = []
    for kind, generate in GENERATORS.items():
        contexts = OWN_CONTEXTS.get(kind, CONTEXTS)
        for i in range(per_kind):
            secret = generate(rng)
            out.append(Item(kind, contexts[i % len(contexts)].format(s=secret), secret))
    out += [Item("negative", text, None) for text in NEGATIVES]
    out += [Item("held_out", text, None) for text in HELD_OUT]
    return out


def detected(guard: SecretsGuard, item: Item) -> tuple[bool, str | None]:
    """Whether anything was found, and the text the guard would send on (masked)."""
    verdict = asyncio.run(guard.check([GuardInput(0, "user", item.text)]))
    replaced = (verdict.replacements or {}).get(0)
    return verdict.decision.action != "allow", replaced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", action="store_true", help="list every miss and false positive")
    args = parser.parse_args()
    guard = SecretsGuard(SecretsGuardConfig())
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    false_positives: list[str] = []
    misses: list[str] = []
    for item in items(args.per_kind, args.seed):
        found, masked = detected(guard, item)
        if item.secret is None:
            totals[item.kind] += 1
            if found:
                hits[item.kind] += 1
                false_positives.append(f"{item.kind}: {item.text!r} -> {masked!r}")
            continue
        totals[item.kind] += 1
        # Detected: the secret no longer appears whole in what the provider would see.
        if found and masked is not None and item.secret not in masked and MASK in masked:
            hits[item.kind] += 1
        else:
            misses.append(f"{item.kind}: {item.text[:100]!r}")
    print("| kind | detected |\n|---|---|")
    for kind in GENERATORS:
        print(f"| {kind} | {hits[kind] / totals[kind]:.0%} ({hits[kind]}/{totals[kind]}) |")
    covered = [k for k in GENERATORS if k not in UNCOVERED]
    found = sum(hits[k] for k in covered)
    total = sum(totals[k] for k in covered)
    print(f"\nkinds with a pattern: {found / total:.1%} detected ({found}/{total})")
    found_all = sum(hits[k] for k in GENERATORS)
    total_all = sum(totals[k] for k in GENERATORS)
    print(f"every kind: {found_all / total_all:.1%} detected ({found_all}/{total_all})")
    for kind, label in (("negative", "look-alikes"), ("held_out", "held-out look-alikes")):
        fp, negatives = hits[kind], totals[kind]
        print(f"false positives: {fp / negatives:.1%} ({fp}/{negatives} {label})")
    if args.show:
        print("\nmisses:", *misses, sep="\n  ")
        print("\nfalse positives:", *false_positives, sep="\n  ")


UNCOVERED = frozenset(("huggingface", "npm", "sendgrid", "twilio", "digitalocean", "database_url"))
"""Kinds the guard had no pattern for when this script was written."""


if __name__ == "__main__":
    main()
