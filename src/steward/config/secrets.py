"""Secret references: config holds `env:NAME`, never the secret itself."""

from __future__ import annotations

import os
from collections.abc import Mapping


def resolve_secret(reference: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret a reference points to, or None when it is unset or empty."""
    if reference is None:
        return None
    environ = os.environ if environ is None else environ
    name = reference.removeprefix("env:")
    value = environ.get(name, "")
    return value or None
