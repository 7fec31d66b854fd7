"""The PII guard: Presidio's recognizers over spaCy's bundled English model, offline."""

from steward.guards.pii.guard import PIIGuard
from steward.guards.pii.restore import PseudonymRestorer

__all__ = ["PIIGuard", "PseudonymRestorer"]
