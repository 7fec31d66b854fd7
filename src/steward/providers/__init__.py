"""Providers: one module per upstream wire shape, all behind the `Provider` protocol."""

from steward.providers.base import Provider

__all__ = ["Provider"]
