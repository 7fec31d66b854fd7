"""A prompt version compiled for serving: sandboxed Jinja2 message templates and a variables
validator, both built once per version and reused by every request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from steward.errors import ConfigError, InvalidRequestError
from steward.prompts.definition import PromptDefinition

if TYPE_CHECKING:
    from jinja2 import Template

__all__ = ["CompiledPrompt", "template_environment"]


def template_environment() -> ImmutableSandboxedEnvironment:
    """Sandboxed (no attribute access to internals, no mutation of the variables), strict
    (an undefined variable is an error, not an empty string), and no HTML escaping."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    definition: PromptDefinition
    version: int
    templates: tuple[tuple[str, Template], ...]
    validator: Any
    """A `jsonschema` validator for the variables, or None when the prompt declares no schema."""

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def ref(self) -> str:
        return f"{self.definition.name}@{self.version}"

    @classmethod
    def compile(
        cls, definition: PromptDefinition, version: int, env: ImmutableSandboxedEnvironment
    ) -> CompiledPrompt:
        """Compile every template and check the schemas; a bad template is a `ConfigError`."""
        try:
            templates = tuple((m.role, env.from_string(m.content)) for m in definition.messages)
        except TemplateError as exc:
            raise ConfigError(
                f"Prompt {definition.name!r}: a message template does not compile ({exc})."
            ) from None
        return cls(definition, version, templates, _validator(definition))

    def render(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages for `variables`, after checking them against the variables schema."""
        self.check(variables)
        messages = []
        for role, template in self.templates:
            try:
                content = template.render(variables)
            except SecurityError:
                raise InvalidRequestError(
                    f"Prompt {self.ref}: the template tried an operation the sandbox forbids.",
                    param="variables",
                ) from None
            except TemplateError as exc:
                raise InvalidRequestError(
                    f"Prompt {self.ref} cannot be rendered: {exc}; send every variable the "
                    "template uses in `variables`.",
                    param="variables",
                ) from None
            messages.append({"role": role, "content": content})
        return messages

    def check(self, variables: dict[str, Any]) -> None:
        if self.validator is None:
            return
        error = next(iter(sorted(self.validator.iter_errors(variables), key=_path)), None)
        if error is not None:
            where = "variables" + "".join(f"[{p!r}]" for p in error.absolute_path)
            raise InvalidRequestError(
                f"Prompt {self.ref}: {where}: {error.message}; send variables that match the "
                "prompt's variables schema (`steward prompts show` prints it).",
                param="variables",
            )


def _validator(definition: PromptDefinition) -> Any:
    schemas = {"variables": definition.variables, "output_schema": definition.output_schema}
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    for field, schema in schemas.items():
        if schema is None:
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ConfigError(
                f"Prompt {definition.name!r}: {field} is not a valid JSON schema ({exc.message})."
            ) from None
    if definition.variables is None:
        return None
    return Draft202012Validator(definition.variables)


def _path(error: Any) -> str:
    return "/".join(str(p) for p in error.absolute_path)
