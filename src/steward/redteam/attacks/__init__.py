"""The built-in attack suites, one module per category, in the order reports list them."""

from __future__ import annotations

from collections.abc import Iterable

from steward.redteam.attack import Suite
from steward.redteam.attacks import (
    direct_injection,
    extraction,
    harmful,
    indirect_injection,
    jailbreak,
    pii,
)

__all__ = ["SUITES", "select"]

SUITES: tuple[Suite, ...] = (
    direct_injection.SUITE,
    indirect_injection.SUITE,
    jailbreak.SUITE,
    extraction.SUITE,
    pii.SUITE,
    harmful.SUITE,
)


def select(names: Iterable[str] | None = None) -> list[Suite]:
    """The suites named (all when None), in report order; ValueError names an unknown one."""
    if names is None:
        return list(SUITES)
    wanted = {name.strip() for name in names if name.strip()}
    known = {suite.name for suite in SUITES}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(
            f"unknown categories {', '.join(unknown)}; choose from {', '.join(sorted(known))}"
        )
    return [suite for suite in SUITES if suite.name in wanted]
