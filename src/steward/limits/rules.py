"""Which limits a call counts against, and what it reserves: built from memory per request."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from steward.auth.keyring import Principal
from steward.config.guards_output import OutputGuardsConfig
from steward.config.schema import StewardConfig
from steward.costs import Pricing, estimate_input_tokens, max_output_tokens
from steward.errors import UnknownModelError
from steward.limits.base import Rule
from steward.limits.budgets import BudgetBook
from steward.routing.targets import ModelTable
from steward.wire.openai import ChatRequest, EmbeddingRequest, TokenUsage

__all__ = ["CallRules", "RuleBook"]


@dataclass(frozen=True, slots=True)
class CallRules:
    """The rules one call reserves against, and the keys its settlement replaces."""

    rules: list[Rule]
    token_keys: tuple[str, ...]
    budget_keys: tuple[str, ...]

    def actual(self, usage: TokenUsage | None, cost_usd: float | None) -> dict[str, float]:
        tokens = float(usage.input_tokens + usage.output_tokens) if usage else 0.0
        settled = dict.fromkeys(self.token_keys, tokens)
        settled.update(dict.fromkeys(self.budget_keys, cost_usd or 0.0))
        return settled


class RuleBook:
    """Per-key, app, team and model rate limits plus budgets, as counter rules for one call."""

    def __init__(
        self,
        config: StewardConfig,
        models: ModelTable,
        pricing: Pricing,
        budgets: Callable[[], BudgetBook],
    ) -> None:
        self._limits = config.limits
        self._model_quotas: Mapping[str, tuple[int | None, int | None]] = {
            name: (m.rpm, m.tpm) for name, m in config.models.items() if m.rpm or m.tpm
        }
        self._calls: Mapping[str, int] = {
            name: _upstream_calls(m.guards.output)
            for name, m in config.models.items()
            if m.guards is not None and m.guards.output is not None
        }
        """Per model with output guards, how many upstream calls one attempt can make."""
        self._models = models
        self._pricing = pricing
        self._budgets = budgets
        self._names: dict[str, tuple[str, str, str, str]] = {}

    def for_call(
        self,
        principal: Principal,
        public_model: str | None,
        request: ChatRequest | EmbeddingRequest,
    ) -> CallRules | None:
        """None when nothing limits this call (the common, free path)."""
        book = self._budgets()
        budgets = book.applicable(principal, public_model) if book else []
        quotas = self._quotas(principal, public_model)
        if not quotas and not budgets:
            return None
        input_tokens = estimate_input_tokens(request)
        output_tokens = (
            max_output_tokens(request, self._limits.default_max_output_tokens)
            if isinstance(request, ChatRequest)
            else 0
        )
        rules: list[Rule] = []
        token_keys: list[str] = []
        for scope, label, rpm, tpm in quotas:
            names = self._names.get(scope)
            if names is None:
                names = self._names[scope] = _names(scope, label)
            if rpm:
                rules.append(Rule(names[0], names[1], "rate", rpm, 1.0))
            if tpm:
                rules.append(
                    Rule(names[2], names[3], "rate", tpm, float(input_tokens + output_tokens))
                )
                token_keys.append(names[2])
        budget_rules: list[Rule] = []
        if budgets:
            worst = self._worst_case_usd(public_model, input_tokens, output_tokens)
            budget_rules = book.rules(budgets, worst, time.time())
        return CallRules(
            rules + budget_rules, tuple(token_keys), tuple(r.key for r in budget_rules)
        )

    def _quotas(
        self, principal: Principal, public_model: str | None
    ) -> list[tuple[str, str, int | None, int | None]]:
        found = [(f"{q.scope}:{q.scope_id}", q.label, q.rpm, q.tpm) for q in principal.quotas]
        default = self._limits.key_rpm or self._limits.key_tpm
        if default and not any(q.scope == "key" for q in principal.quotas):
            found.append(
                (
                    f"key:{principal.key_id}",
                    f"key {principal.name}",
                    self._limits.key_rpm,
                    self._limits.key_tpm,
                )
            )
        if public_model is not None and public_model in self._model_quotas:
            rpm, tpm = self._model_quotas[public_model]
            found.append((f"model:{public_model}", f"model {public_model}", rpm, tpm))
        return found

    def _worst_case_usd(
        self, public_model: str | None, input_tokens: int, output_tokens: int
    ) -> float:
        """The dearest target of the model bounds what the call can cost, whichever serves it."""
        try:
            targets = self._models.resolve(public_model or "").targets
        except UnknownModelError:
            return 0.0
        one = max(
            (self._pricing.worst_case_usd(t, input_tokens, output_tokens) for t in targets),
            default=0.0,
        )
        return one * self._calls.get(public_model or "", 1)


def _upstream_calls(guards: OutputGuardsConfig) -> int:
    """The answer, its re-asks (a request's `response_format` is validated too) and the
    self-consistency samples: what the output guards can ask one target for, each charged
    (`ctx.spent`), so a budget reserves for all of them."""
    return 1 + guards.reask_attempts + guards.confidence.samples


def _names(scope: str, label: str) -> tuple[str, str, str, str]:
    """Counter keys and labels of a scope's two rate rules (worked out once per scope)."""
    return (
        f"rate:{scope}:rpm",
        f"requests per minute of {label}",
        f"rate:{scope}:tpm",
        f"tokens per minute of {label}",
    )
