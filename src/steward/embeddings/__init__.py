"""Local sentence embeddings; the model classes load their weights only when asked."""

from steward.embeddings.minilm import DIMENSIONS, MiniLM

__all__ = ["DIMENSIONS", "MiniLM"]
