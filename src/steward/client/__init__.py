"""Clients of a running Steward gateway, for the tools that drive it (evals, red-team, load tests)."""

from steward.client.gateway import GatewayClient, GatewayError, Reply
from steward.client.prompts import FetchedPrompt, PromptClient

__all__ = ["FetchedPrompt", "GatewayClient", "GatewayError", "PromptClient", "Reply"]
