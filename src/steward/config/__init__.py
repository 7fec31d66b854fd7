"""Configuration: a strict schema, loading from TOML, `STEWARD_*` overrides and secret references."""

from steward.config.loading import load_config
from steward.config.schema import StewardConfig

__all__ = ["StewardConfig", "load_config"]
