"""Guardrails: input guards before the model (injection, PII, secrets, limits, topics) and
output guards after it (schema validation, leaks, refusals, confidence, escalation)."""
