"""Dataset items sampled at random from production request records and their captured payloads.

An item's `messages` are the captured request's chat messages (an Anthropic `/v1/messages`
request is turned into the same OpenAI-shaped messages the gateway routes), its `expected` the
captured response's text, a starting point for review. Only records with a captured payload can
become items: the others are counted and skipped, as are payloads that cannot be decrypted or
hold no chat messages, and inputs already taken.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from steward.errors import InvalidRequestError, PayloadKeyError
from steward.evals.datasets import content_id, item_from_json
from steward.evals.results import Item
from steward.observe.stored_payloads import response_text
from steward.payloads.keys import PayloadKeyring
from steward.payloads.sealing import open_row
from steward.storage.datasets import Candidate, RecordFilter, record_candidates
from steward.storage.payloads import get_payload_row
from steward.types import JSONObject
from steward.wire.anthropic_inbound import MessagesRequest, messages_to_chat

__all__ = ["TAG", "RecordSample", "item_from_payload", "sample_records"]

TAG = "from-records"
"""Every sampled item's first tag; the second is `request:<id>`."""


@dataclass(frozen=True, slots=True)
class RecordSample:
    """The items drawn, and what happened to the records matched.

    `uncaptured` counts every matching record without a payload. `unreadable`, `unusable` and
    `duplicates` count the records looked at before `count` items were found.
    """

    items: tuple[Item, ...]
    seed: int
    matched: int
    uncaptured: int
    unreadable: int = 0
    unusable: int = 0
    duplicates: int = 0


def sample_records(
    engine: Engine,
    keyring: PayloadKeyring | None,
    where: RecordFilter,
    *,
    count: int,
    seed: int | None = None,
    taken: Collection[str] = (),
) -> RecordSample:
    """Up to `count` items from records matching `where`, drawn at random with `seed` (None: a
    fresh one, reported so the draw can be repeated); inputs whose id is in `taken` are skipped.

    Runs database reads: call it from a thread, not the event loop.
    """
    if count < 1:
        raise InvalidRequestError("`count` must be at least 1.", param="count")
    seed = secrets.randbelow(2**31) if seed is None else seed
    candidates = record_candidates(engine, where)
    captured = [c for c in candidates if c.captured]
    random.Random(seed).shuffle(captured)
    draw = _Draw(set(taken))
    for candidate in captured:
        if len(draw.items) >= count:
            break
        draw.consider(engine, keyring, candidate)
    return RecordSample(
        items=tuple(draw.items),
        seed=seed,
        matched=len(candidates),
        uncaptured=len(candidates) - len(captured) + draw.vanished,
        unreadable=draw.unreadable,
        unusable=draw.unusable,
        duplicates=draw.duplicates,
    )


class _Draw:
    """The items taken so far and the tally of records passed over."""

    def __init__(self, taken: set[str]) -> None:
        self.items: list[Item] = []
        self.seen = taken
        self.vanished = self.unreadable = self.unusable = self.duplicates = 0

    def consider(
        self, engine: Engine, keyring: PayloadKeyring | None, candidate: Candidate
    ) -> None:
        row = get_payload_row(engine, candidate.request_id)
        if row is None:  # deleted (retention, erasure) since the candidates were read
            self.vanished += 1
            return
        try:
            document = open_row(row, keyring)
        except PayloadKeyError:
            self.unreadable += 1
            return
        item = item_from_payload(document, endpoint=candidate.endpoint, request_id=row.request_id)
        if item is None:
            self.unusable += 1
        elif item.id in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(item.id)
            self.items.append(item)


def item_from_payload(document: JSONObject, *, endpoint: str, request_id: str) -> Item | None:
    """The item a captured payload makes, or None when its request holds no chat messages."""
    messages = _messages(document.get("request"), endpoint)
    if messages is None:
        return None
    data = {
        "id": content_id(messages=messages),
        "messages": messages,
        "expected": response_text(document),
        "tags": [TAG, f"request:{request_id}"],
    }
    try:
        return item_from_json(data)
    except InvalidRequestError:
        return None


def _messages(request: object, endpoint: str) -> list[JSONObject] | None:
    if not isinstance(request, dict):
        return None  # the body was not JSON
    if endpoint != "messages":
        messages = request.get("messages")
        return messages if isinstance(messages, list) else None
    try:
        chat = messages_to_chat(MessagesRequest.model_validate(request))
    except (ValidationError, InvalidRequestError):
        return None
    return [message.model_dump(exclude_none=True) for message in chat.messages]
