"""The response cache: exact and semantic lookups, their stores, statistics (see docs/architecture.md)."""
