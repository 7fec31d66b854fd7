"""What an evaluation run calls: a prompt version (`prompt:NAME@VERSION`, labels pinned to a
version when the run starts) or a public model, and the request body for each dataset item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from steward.errors import InvalidRequestError
from steward.evals.results import Item
from steward.prompts.refs import PREFIX, parse_prompt_ref
from steward.storage import prompts as prompt_store
from steward.types import JSONObject

__all__ = ["EvalTarget", "resolve_target"]


@dataclass(frozen=True, slots=True)
class EvalTarget:
    """`model` is what the gateway is asked for: `prompt:NAME@VERSION` or a public model."""

    model: str
    prompt_name: str | None = None
    prompt_version: int | None = None
    output_schema: dict[str, Any] | None = None
    params: JSONObject | None = None
    """Extra request parameters for every call (e.g. temperature for repeats)."""

    def body(self, item: Item) -> JSONObject:
        """The chat request for one item; an item needs variables for a prompt, messages for a
        model (an item with both sends both: the messages follow the prompt's)."""
        body: JSONObject = {"model": self.model, **(self.params or {})}
        if self.prompt_name is not None:
            if item.variables is None and item.messages is None:
                raise InvalidRequestError(f"Item {item.id!r} has neither variables nor messages.")
            body["variables"] = dict(item.variables or {})
            body["messages"] = [dict(m) for m in item.messages or ()]
            return body
        if not item.messages:
            raise InvalidRequestError(
                f"Item {item.id!r} has variables but no messages; evaluate it against a prompt "
                "(--target prompt:NAME@VERSION), or give the item messages."
            )
        body["messages"] = [dict(m) for m in item.messages]
        return body

    def __str__(self) -> str:
        return self.model


def resolve_target(engine: Engine, text: str, *, params: JSONObject | None = None) -> EvalTarget:
    """Pin `prompt:NAME`, `prompt:NAME@LABEL` to the version they name now; a model as it is."""
    if not text.startswith(PREFIX):
        if not text.strip():
            raise InvalidRequestError(
                "--target is empty; give a public model or prompt:NAME@VERSION."
            )
        return EvalTarget(model=text, params=params)
    ref = parse_prompt_ref(text)
    version = prompt_store.resolve_version(engine, ref.name, version=ref.version, label=ref.label)
    stored = prompt_store.get_version(engine, ref.name, version)
    return EvalTarget(
        model=f"{PREFIX}{ref.name}@{version}",
        prompt_name=ref.name,
        prompt_version=version,
        output_schema=stored.definition.output_schema,
        params=params,
    )
