"""Steward: a self-hosted production layer for LLM applications."""

from __future__ import annotations

from steward.errors import StewardError

__version__ = "0.1.0"
__all__ = ["StewardError", "__version__"]
