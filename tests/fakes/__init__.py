"""Fake upstream model provider for tests: OpenAI and Anthropic over real HTTP, scripted faults."""

from __future__ import annotations

from .faults import Fault, ReceivedRequest
from .openai_routes import fake_embedding
from .provider import FakeProvider, fake_provider, fake_provider_server

__all__ = [
    "FakeProvider",
    "Fault",
    "ReceivedRequest",
    "fake_embedding",
    "fake_provider",
    "fake_provider_server",
]
