"""Prompt definitions: validation, canonical digests, the TOML rendering, refs and templates."""

from __future__ import annotations

import tomllib

import pytest

from steward.errors import ConfigError, InvalidRequestError
from steward.prompts import CompiledPrompt, PromptDefinition, PromptRef, parse_prompt_ref
from steward.prompts.template import template_environment

BASE = {
    "name": "support-reply",
    "model": "assistant",
    "description": "Answers a ticket",
    "params": {"temperature": 0.1, "stop": ["\n\n"], "response_format": {"type": "json_object"}},
    "variables": {"type": "object", "properties": {"ticket": {"type": "string"}}},
    "output_schema": {"type": "object", "required": ["answer"]},
    "messages": [
        {"role": "system", "content": 'Multi\nline "quoted" system prompt'},
        {"role": "user", "content": "{{ ticket }}"},
    ],
}


def test_toml_rendering_reads_back_as_the_same_definition() -> None:
    definition = PromptDefinition.model_validate(BASE)
    again = PromptDefinition.model_validate(tomllib.loads(definition.to_toml()))
    assert again == definition
    assert again.digest() == definition.digest()


def test_digest_ignores_key_order_but_not_content() -> None:
    a = PromptDefinition.model_validate(BASE)
    b = PromptDefinition.model_validate(dict(reversed(list(BASE.items()))))
    c = PromptDefinition.model_validate({**BASE, "description": "other"})
    assert a.digest() == b.digest() != c.digest()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"name": "Has Space"}, "lowercase letters"),
        ({"params": {"model": "x"}}, "model cannot be a prompt parameter"),
        ({"messages": []}, "at least 1"),
        ({"colour": "blue"}, "Extra inputs"),
    ],
)
def test_invalid_definitions_are_refused(change: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        PromptDefinition.model_validate({**BASE, **change})


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("prompt:a", PromptRef("a")),
        ("prompt:a@3", PromptRef("a", version=3)),
        ("prompt:a@staging", PromptRef("a", label="staging")),
        ("a.b_c-d@production", PromptRef("a.b_c-d", label="production")),
    ],
)
def test_refs_parse(text: str, ref: PromptRef) -> None:
    assert parse_prompt_ref(text) == ref


@pytest.mark.parametrize("text", ["prompt:", "prompt:a@", "prompt:A", "prompt:a b"])
def test_bad_refs_say_what_a_ref_looks_like(text: str) -> None:
    with pytest.raises(InvalidRequestError, match="prompt:NAME@LABEL"):
        parse_prompt_ref(text)


def test_templates_are_strict_sandboxed_and_schemas_checked() -> None:
    env = template_environment()
    compiled = CompiledPrompt.compile(PromptDefinition.model_validate(BASE), 4, env)
    assert compiled.render({"ticket": "<b>hi</b>"})[1]["content"] == "<b>hi</b>"  # no escaping
    with pytest.raises(InvalidRequestError, match="'ticket' is undefined"):
        compiled.render({})
    with pytest.raises(InvalidRequestError, match=r"variables\['ticket'\]: 5 is not of type"):
        compiled.render({"ticket": 5})
    bad_schema = {**BASE, "output_schema": {"type": "no-such-type"}}
    with pytest.raises(ConfigError, match="output_schema is not a valid JSON schema"):
        CompiledPrompt.compile(PromptDefinition.model_validate(bad_schema), 1, env)
    unsafe = {**BASE, "messages": [{"role": "user", "content": "{{ ticket.__class__ }}"}]}
    compiled = CompiledPrompt.compile(PromptDefinition.model_validate(unsafe), 1, env)
    with pytest.raises(InvalidRequestError, match="support-reply@1"):
        compiled.render({"ticket": "x"})
