"""Render every error as JSON in the caller's wire shape: OpenAI, or Anthropic on /v1/messages."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from steward.errors import StewardError
from steward.types import JSONObject
from steward.wire.anthropic import ANTHROPIC_ERROR_TYPES, error_body


def openai_error_body(error: StewardError) -> JSONObject:
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code,
        }
    }


def anthropic_error_body(error: StewardError) -> JSONObject:
    kind = ANTHROPIC_ERROR_TYPES.get(error.http_status, "api_error")
    return error_body(kind, error.message)


def error_response(
    error: StewardError, *, anthropic: bool = False, request_id: str = ""
) -> Response:
    body = anthropic_error_body(error) if anthropic else openai_error_body(error)
    headers = error.headers()
    if request_id:
        headers["x-request-id"] = request_id
    return Response(
        orjson.dumps(body),
        status_code=error.http_status,
        media_type="application/json",
        headers=headers,
    )
