"""Sealing a payload on the writer thread, and opening it again.

The stored document is JSON: `{"request": ..., "response": ..., "error": ...}`. `request` is the
body as the gateway received it (in the caller's wire format, OpenAI or Anthropic; a body that is
not JSON is kept as a string); `response` is the chat completion in OpenAI shape, assembled from
the chunks for a stream (a stream that did not finish ends its open choices with
`finish_reason: "incomplete"`), null for embeddings and errors; `error` is `{"type", "message"}`
or null. Under `full` a JSON request body is spliced in byte for byte; under `redacted` every
string in the document goes through the redactor. Then the document is encrypted with the
current key, or stored as is when `[payloads] allow_plaintext` lets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from steward.cache.streams import StreamAssembler
from steward.errors import PayloadKeyError
from steward.observe.redact import Redactor, redact_json
from steward.payloads.capture import PayloadDraft
from steward.payloads.keys import PayloadKeyring, Sealed
from steward.storage.payloads import PayloadRow, get_payload_row
from steward.storage.records import RequestRecord
from steward.types import JSONObject

__all__ = ["Sealer", "assemble_stream", "open_row", "plaintext", "read_payload"]


class Sealer:
    """Turns a draft into a payload row: document, redaction, encryption. Thread-safe."""

    def __init__(self, keyring: PayloadKeyring | None, redactor: Redactor) -> None:
        self._keyring = keyring
        self._redactor = redactor

    def __call__(self, record: RequestRecord, draft: PayloadDraft) -> PayloadRow:
        document = self.document(draft)
        row = PayloadRow(
            request_id=record.id,
            created_at=record.created_at,
            policy=draft.policy,
            body=document,
            public_model=record.public_model,
            team_id=record.team_id,
            user=record.user,
        )
        if self._keyring is None:
            return row
        sealed = self._keyring.encrypt(document, record.id)
        return replace(row, body=sealed.ciphertext, key_id=sealed.key_id, nonce=sealed.nonce)

    def document(self, draft: PayloadDraft) -> bytes:
        """The plaintext JSON document of a draft, redacted under the `redacted` policy."""
        response: Any = draft.response
        if draft.chunks is not None:
            response = assemble_stream(draft.chunks)
        error = None
        if draft.error_type is not None:
            error = {"type": draft.error_type, "message": draft.error_message}
        request = _request_json(draft.request)
        if draft.policy == "full":
            encoded = draft.request if isinstance(request, dict | list) else orjson.dumps(request)
            rest = orjson.dumps({"response": response, "error": error})
            return b'{"request":' + encoded + b"," + rest[1:]
        document = {"request": request, "response": response, "error": error}
        return orjson.dumps(redact_json(document, self._redactor))


def assemble_stream(chunks: Sequence[JSONObject]) -> JSONObject:
    """The completion a stream's chunks add up to; the chunks themselves if they cannot be read."""
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler(chunk)
    body = assembler.completion()
    if body is not None:
        return body
    seen: set[int] = set()
    finished: set[int] = set()
    for chunk in chunks:
        for position, choice in enumerate(chunk.get("choices") or []):
            if isinstance(choice, dict):
                index = choice.get("index", position)
                seen.add(index)
                if isinstance(choice.get("finish_reason"), str):
                    finished.add(index)
    for index in sorted(seen - finished):
        assembler({"choices": [{"index": index, "delta": {}, "finish_reason": "incomplete"}]})
    body = assembler.completion()
    return body if body is not None else {"object": "chat.completion.chunks", "chunks": chunks}


def plaintext(row: PayloadRow, keyring: PayloadKeyring | None) -> bytes:
    """The row's document as stored before encryption; raises `PayloadKeyError`."""
    if row.key_id is None:
        return row.body
    if keyring is None or row.nonce is None:
        raise PayloadKeyError(
            f"payload {row.request_id} is encrypted with key {row.key_id}, and no "
            "[payloads] encryption_keys are configured"
        )
    return keyring.decrypt(Sealed(row.key_id, row.nonce, row.body), row.request_id)


def open_row(row: PayloadRow, keyring: PayloadKeyring | None) -> JSONObject:
    """The stored document, decoded; raises `PayloadKeyError` when it cannot be decrypted."""
    document: JSONObject = orjson.loads(plaintext(row, keyring))
    return document


def read_payload(
    engine: Engine, keyring: PayloadKeyring | None, request_id: str
) -> JSONObject | None:
    """A call's captured payload with its policy, or None when none was kept (for the query API).

    Runs a database read: call it from a thread, not the event loop.
    """
    row = get_payload_row(engine, request_id)
    if row is None:
        return None
    return {"request_id": row.request_id, "policy": row.policy, **open_row(row, keyring)}


def _request_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")
