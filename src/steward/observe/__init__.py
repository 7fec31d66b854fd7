"""Observability: logging, metrics, tracing, and the background writer of request records.

Submodules are imported where used, so `import steward.observe` pulls in no database driver.
"""
