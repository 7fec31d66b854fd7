"""The parse stage: raw body to a typed request, with errors that name the field to fix."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from steward.errors import InvalidRequestError, RequestTooLargeError
from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next
from steward.wire.anthropic import MessagesRequest, messages_to_chat
from steward.wire.openai import ChatRequest, EmbeddingRequest

M = TypeVar("M", bound=BaseModel)


class ParseStage:
    def __init__(self, *, max_body_bytes: int) -> None:
        self._max_body_bytes = max_body_bytes

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        if max(ctx.body_bytes, len(ctx.raw_body)) > self._max_body_bytes:
            raise RequestTooLargeError(
                f"The request body is larger than {self._max_body_bytes} bytes; send less "
                "(or raise [server] max_body_bytes)."
            )
        data = decode_json(ctx.raw_body)
        if ctx.endpoint == "chat":
            ctx.request = validate(ChatRequest, data)
            ctx.request.keep_wire(data)
        elif ctx.endpoint == "messages":
            ctx.request = messages_to_chat(validate(MessagesRequest, data))
        else:
            ctx.request = validate(EmbeddingRequest, data)
        ctx.public_model = ctx.request.model
        ctx.stream = isinstance(ctx.request, ChatRequest) and ctx.request.stream
        return await call_next(ctx)


def decode_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidRequestError("The request body is empty; send a JSON object.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid JSON ({exc}); send a JSON object with "
            "Content-Type: application/json."
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequestError(
            f"The request body must be a JSON object, not {type(data).__name__}."
        )
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise InvalidRequestError(
            f"Invalid request: '{path}': {_explain(first)}{more}.", param=path or None
        ) from None


def _explain(error: Any) -> str:
    if error["type"] == "missing":
        return "this field is required"
    message = str(error["msg"])
    if "input" in error and error["type"] not in ("missing",):
        shown = repr(error["input"])
        if len(shown) <= 60:
            message += f", got {shown}"
    return message
