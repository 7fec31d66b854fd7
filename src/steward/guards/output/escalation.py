"""Escalation items: what is kept of a call the output guards could not vouch for, and opening it.

The context document is `{"request", "response", "scores", "guards"}`: the request body as the
gateway received it, the answer the target gave (before any fallback answer replaced it), the
confidence signals and score, and every guard decision of the call. It is sealed on the
escalation writer's thread (`escalation_writer.py`) with the payload keys.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from steward.errors import PayloadKeyError
from steward.guards.base import Decision
from steward.payloads.keys import PayloadKeyring, Sealed
from steward.pipeline.context import CallContext
from steward.storage.escalations import OPEN, EscalationRow
from steward.types import JSONObject

__all__ = ["EscalationItem", "escalation_item", "open_context", "seal_item"]


@dataclass(frozen=True, slots=True)
class EscalationItem:
    """An escalation before sealing; `context` is plaintext and never leaves the process so."""

    id: str
    created_at: datetime
    request_id: str
    public_model: str | None
    team_id: str | None
    reason: str
    confidence: float | None
    context: JSONObject


def escalation_item(
    ctx: CallContext,
    response: JSONObject,
    reason: str,
    scores: JSONObject,
    decisions: list[Decision],
) -> EscalationItem:
    principal = ctx.principal
    return EscalationItem(
        id="esc_" + secrets.token_hex(10),
        created_at=ctx.created_at,
        request_id=ctx.id,
        public_model=ctx.public_model,
        team_id=principal.team_id if principal else None,
        reason=reason,
        confidence=ctx.confidence,
        context={
            "request": _request_json(ctx.raw_body),
            "response": response,
            "scores": scores,
            "guards": [d.to_json() for d in decisions],
        },
    )


def seal_item(item: EscalationItem, keyring: PayloadKeyring | None) -> EscalationRow:
    """The row to store: the context encrypted with the current key, or plaintext without keys."""
    document = orjson.dumps(item.context)
    key_id = nonce = None
    if keyring is not None:
        sealed = keyring.encrypt(document, item.id)
        key_id, nonce, document = sealed.key_id, sealed.nonce, sealed.ciphertext
    return EscalationRow(
        id=item.id,
        created_at=item.created_at,
        request_id=item.request_id,
        public_model=item.public_model,
        team_id=item.team_id,
        reason=item.reason,
        confidence=item.confidence,
        status=OPEN,
        context=document,
        key_id=key_id,
        nonce=nonce,
    )


def open_context(row: EscalationRow, keyring: PayloadKeyring | None) -> JSONObject:
    """The stored context, decrypted; raises `PayloadKeyError` when it cannot be."""
    if row.key_id is None:
        plain = row.context
    elif keyring is None or row.nonce is None:
        raise PayloadKeyError(
            f"escalation {row.id} is encrypted with key {row.key_id}, and no "
            "[payloads] encryption_keys are configured"
        )
    else:
        plain = keyring.decrypt(Sealed(row.key_id, row.nonce, row.context), row.id)
    document: JSONObject = orjson.loads(plain)
    return document


def _request_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")
