"""Versioned prompts: definitions in files or the registry, labels that move between versions,
sandboxed templates, and the in-memory book the gateway resolves `prompt:` models from."""

from steward.prompts.definition import PromptDefinition
from steward.prompts.refs import PromptRef, parse_prompt_ref
from steward.prompts.template import CompiledPrompt

__all__ = ["CompiledPrompt", "PromptDefinition", "PromptRef", "parse_prompt_ref"]
