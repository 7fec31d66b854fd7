"""The SQLAlchemy Core tables; migrations in `migrations/versions` must create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "alerts",
    "api_keys",
    "apps",
    "audit_head",
    "audit_log",
    "budgets",
    "dataset_items",
    "dataset_versions",
    "escalations",
    "eval_gates",
    "eval_results",
    "eval_runs",
    "metadata",
    "payloads",
    "prompt_labels",
    "prompt_versions",
    "requests",
    "teams",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that reads back in UTC on every backend.

    SQLite has no time zones: values are stored as naive UTC. Naive input is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False, default="app", server_default="app"),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("team_id", String(32), nullable=True, index=True),
    Column("app_id", String(32), nullable=True),
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("rotated_to", String(32), nullable=True),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
)

apps = Table(
    "apps",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("team_id", String(32), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    UniqueConstraint("team_id", "name", name="uq_apps_team_id_name"),
)

budgets = Table(
    "budgets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("scope", String(16), nullable=False),  # key, app, team or model
    Column("scope_id", String(200), nullable=False),
    # The owning team; None for an organisation-wide model budget.
    Column("team_id", String(32), nullable=True, index=True),
    Column("period", String(16), nullable=False),
    Column("limit_usd", Float, nullable=False),
    Column("thresholds", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(200), nullable=True),
    Column("team_id", String(32), nullable=True, index=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("endpoint", String(32), nullable=False),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("config_hash", String(16), nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("key_id", String(32), nullable=True, index=True),
    Column("public_model", String(200), nullable=True),
    Column("target", String(300), nullable=True),
    Column("error_type", String(64), nullable=True),
    Column("ttft_ms", Float, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("attempts", Text, nullable=True),
    Column("attempt_count", Integer, nullable=True),
    Column("cache", String(16), nullable=True),
    Column("cache_similarity", Float, nullable=True),
    Column("team_id", String(32), nullable=True, index=True),
    Column("app_id", String(32), nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("user", String(200), nullable=True, index=True),
    Column("trace_id", String(32), nullable=True),
    Column("prompt_name", String(200), nullable=True, index=True),
    Column("prompt_version", Integer, nullable=True),
    Column("guards", Text, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("escalated", Boolean, nullable=True),
)

payloads = Table(
    "payloads",
    metadata,
    Column("request_id", String(40), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("public_model", String(200), nullable=True),
    Column("team_id", String(32), nullable=True),
    Column("user", String(200), nullable=True, index=True),
    Column("policy", String(16), nullable=False),  # metadata, redacted or full
    Column("key_id", String(64), nullable=True),  # the encryption key; None: not encrypted
    Column("nonce", LargeBinary, nullable=True),
    Column("body", LargeBinary, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rule", String(200), nullable=False, index=True),
    Column("state", String(16), nullable=False),  # firing or resolved
    Column("started_at", UTCDateTime(), nullable=False, index=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("labels", Text, nullable=True),
)

# A prompt version's body is its whole definition as JSON (template messages, variables schema,
# model, parameters, output schema); versions are never updated, labels point at them.
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("digest", String(64), nullable=False),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("label", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("note", Text, nullable=True),
    Column("item_count", Integer, nullable=False),
)

# An item's body is JSON: {"input": {...variables} | "messages": [...], "expected": ..., "tags": [...]}.
dataset_items = Table(
    "dataset_items",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("position", Integer, nullable=False),
    Column("item_id", String(200), primary_key=True),
    Column("body", Text, nullable=False),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("dataset", String(200), nullable=False),
    Column("dataset_version", Integer, nullable=False),
    Column("target", String(300), nullable=False),
    Column("prompt_name", String(200), nullable=True),
    Column("prompt_version", Integer, nullable=True),
    Column("repeats", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # JSON: scorers, concurrency, parameters
    Column("status", String(16), nullable=False),  # running, finished or failed
)

eval_results = Table(
    "eval_results",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("item_id", String(200), primary_key=True),
    Column("repeat", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("output", Text, nullable=True),
    Column("scores", Text, nullable=False),  # JSON: {scorer: {"value": v, "passed": p}}
    Column("latency_ms", Float, nullable=False),
    Column("cost_usd", Float, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("request_id", String(40), nullable=True),
)

eval_gates = Table(
    "eval_gates",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("prompt_name", String(200), nullable=True, index=True),
    Column("baseline_run", String(40), nullable=False),
    Column("candidate_run", String(40), nullable=False),
    Column("candidate_version", Integer, nullable=True),
    Column("verdict", String(32), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("summary", Text, nullable=False),
)

# A call the output guards could not vouch for, kept whole for a person to review.
escalations = Table(
    "escalations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("request_id", String(40), nullable=False, index=True),
    Column("public_model", String(200), nullable=True),
    Column("team_id", String(32), nullable=True, index=True),
    Column("reason", String(64), nullable=False),  # low_confidence, guard, invalid_output
    Column("confidence", Float, nullable=True),
    Column("status", String(16), nullable=False),  # open or resolved
    Column("key_id", String(64), nullable=True),  # the payload encryption key; None: plaintext
    Column("nonce", LargeBinary, nullable=True),
    Column("context", LargeBinary, nullable=False),  # request, response, scores, decisions
)
