"""Clients of a running Steward gateway, for the tools that drive it (evals, red-team, load tests)."""

from steward.client.gateway import GatewayClient, GatewayError, Reply

__all__ = ["GatewayClient", "GatewayError", "Reply"]
