"""Capture on the request path: which calls keep a payload, and the little each one carries.

Nothing here encodes, redacts or encrypts: a `PayloadDraft` holds references to the request body
as received and the response (or a stream's chunks, collected by a bare `list.append`), and the
record writer's thread turns it into a sealed row (`sealing.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from steward.config.schema import Capture, StewardConfig
from steward.storage.records import RequestRecord
from steward.types import JSONObject

__all__ = ["CapturedRecord", "PayloadCapture", "PayloadDraft", "StoredPolicy"]

StoredPolicy: TypeAlias = Literal["redacted", "full"]


@dataclass(slots=True)
class PayloadDraft:
    """What a call's payload is made of, before redaction and encryption.

    Not frozen: it is built on the request path, where a frozen dataclass's `__init__` costs
    more than twice as much (1.8 against 0.8 µs). Nothing changes it once handed over.
    """

    policy: StoredPolicy
    request: bytes
    """The body exactly as the gateway received it."""
    response: JSONObject | None = None
    """The chat completion returned (OpenAI shape); None for a stream, an error, embeddings."""
    chunks: Sequence[JSONObject] | None = None
    """A stream's chunks as they passed, assembled into a completion on the writer thread."""
    error_type: str | None = None
    error_message: str | None = None


@dataclass(slots=True)
class CapturedRecord:
    """A record queued with its draft payload; sealed by the writer before it is batched."""

    record: RequestRecord
    payload: PayloadDraft


class PayloadCapture:
    """Each public model's `capture` policy; unknown models (and calls without one) `metadata`."""

    __slots__ = ("_policies",)

    def __init__(self, policies: Mapping[str, Capture]) -> None:
        self._policies = {name: p for name, p in policies.items() if p != "metadata"}

    @classmethod
    def from_config(cls, config: StewardConfig) -> PayloadCapture:
        return cls({name: model.capture for name, model in config.models.items()})

    def policy(self, public_model: str | None) -> Capture:
        if public_model is None:
            return "metadata"
        return self._policies.get(public_model, "metadata")

    @property
    def stores_payloads(self) -> bool:
        return any(p in ("redacted", "full") for p in self._policies.values())
