"""Render every error as JSON in the caller's wire shape: OpenAI, or Anthropic on /v1/messages."""

from __future__ import annotations

import orjson
import structlog
from starlette.responses import Response

from steward.errors import StewardError
from steward.types import JSONObject
from steward.wire.anthropic import ANTHROPIC_ERROR_TYPES, error_body

log = structlog.get_logger("steward.server")


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


def render_error(
    error: StewardError, *, anthropic: bool = False, request_id: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """Status, extra headers and JSON body; the one rendering behind both server paths."""
    body = anthropic_error_body(error) if anthropic else openai_error_body(error)
    headers = error.headers()
    if request_id:
        headers["x-request-id"] = request_id
    return error.http_status, headers, orjson.dumps(body)


def error_response(
    error: StewardError, *, anthropic: bool = False, request_id: str = ""
) -> Response:
    status, headers, body = render_error(error, anthropic=anthropic, request_id=request_id)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def unhandled(path: str, exc: BaseException) -> StewardError:
    """Log an unexpected exception with its traceback; return the generic error the client sees."""
    log.error("request.unhandled", path=path, exc_info=exc)
    return StewardError("The gateway hit an internal error; it is logged. Retry, or report it.")
