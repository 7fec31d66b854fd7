"""The prompt stage: a request whose model is `prompt:NAME[@LABEL|@VERSION]` is expanded into
the prompt version's rendered messages, model and parameters before it is parsed.

The request's `variables` fill the templates (checked against the prompt's variables schema);
its own `messages` follow the rendered ones (a conversation after a system prompt); its own
parameters override the prompt's. The version comes from the in-memory prompt book, never from
the database. Requests for ordinary models pass through untouched (one substring test).
"""

from __future__ import annotations

from typing import Any

import orjson

from steward.errors import InvalidRequestError
from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next
from steward.pipeline.stages.parse import decode_json
from steward.prompts.book import PromptBook
from steward.prompts.refs import PREFIX, parse_prompt_ref
from steward.prompts.template import CompiledPrompt

__all__ = ["PromptStage"]

_MARKER = PREFIX.encode()


class PromptStage:
    def __init__(self, book: PromptBook, *, max_body_bytes: int) -> None:
        self._book = book
        self._max_body_bytes = max_body_bytes

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        raw = ctx.raw_body
        if _MARKER in raw and len(raw) <= self._max_body_bytes and ctx.endpoint != "embeddings":
            data = decode_json(raw)
            model = data.get("model")
            if isinstance(model, str) and model.startswith(PREFIX):
                compiled = self._book.resolve(parse_prompt_ref(model))
                ctx.raw_body = orjson.dumps(
                    expand(compiled, data, anthropic=ctx.endpoint == "messages")
                )
                ctx.prompt_name = compiled.name
                ctx.prompt_version = compiled.version
                ctx.response_headers["x-steward-prompt"] = compiled.ref
        return await call_next(ctx)


def expand(compiled: CompiledPrompt, data: dict[str, Any], *, anthropic: bool) -> dict[str, Any]:
    """The request body with the prompt applied (a new dict; `data` is not changed)."""
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise InvalidRequestError(
            "`variables` must be a JSON object of the prompt's template variables.",
            param="variables",
        )
    rendered = compiled.render(variables)
    body = {k: v for k, v in data.items() if k != "variables"}
    for name, value in compiled.definition.params.items():
        body.setdefault(name, value)
    body["model"] = compiled.definition.model
    extra = data.get("messages") or []
    if not isinstance(extra, list):
        raise InvalidRequestError("`messages` must be a list of messages.", param="messages")
    if anthropic:
        system = [m["content"] for m in rendered if m["role"] in ("system", "developer")]
        if isinstance(data.get("system"), str):
            system.append(data["system"])
        if system:
            body["system"] = "\n\n".join(system)
        rendered = [m for m in rendered if m["role"] not in ("system", "developer")]
    body["messages"] = rendered + extra
    return body
