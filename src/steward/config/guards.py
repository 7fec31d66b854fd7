"""`[models.NAME.guards]`: which guards run on a public model's calls, and what they do.

The input guards' settings live in `config/guards_input.py`, PII's in `config/guards_pii.py`,
the output guards', confidence's and escalation's in `config/guards_output.py`. A guard whose
table is absent does not run; `[models.NAME.guards]` absent means no guard runs at all (and the
guard stages cost one dict lookup).
"""

from __future__ import annotations

from steward.config.guards_input import (
    InjectionGuardConfig,
    LimitsGuardConfig,
    SecretsGuardConfig,
    TopicsGuardConfig,
)
from steward.config.guards_output import OutputGuardsConfig
from steward.config.guards_pii import PIIGuardConfig
from steward.config.section import Section

__all__ = ["GuardsConfig"]


class GuardsConfig(Section):
    injection: InjectionGuardConfig | None = None
    pii: PIIGuardConfig | None = None
    secrets: SecretsGuardConfig | None = None
    limits: LimitsGuardConfig | None = None
    topics: TopicsGuardConfig | None = None
    output: OutputGuardsConfig | None = None
    overlap: bool = False
    """Start the upstream call while the input guards that only block or flag (injection
    without `strip` or a judge, topics) are still deciding, after the ones that change the
    text (limits, secrets, PII, injection with `strip`) have finished: those guards then add
    almost nothing to a call's latency. The answer is returned only once every guard has
    cleared the request; a blocked request's upstream call is cancelled, and what the
    provider had already processed may be billed (docs/guardrails.md)."""

    def has_input_guards(self) -> bool:
        return any(
            g is not None
            for g in (self.injection, self.pii, self.secrets, self.limits, self.topics)
        )
