"""Settings of the output guards: schema validation and repair, leaks, refusals, confidence and
escalation."""

from __future__ import annotations

from steward.config.section import Section

__all__ = ["OutputGuardsConfig"]


class OutputGuardsConfig(Section):
    pass
