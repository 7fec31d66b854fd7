"""The Anthropic Messages wire format: one import point for both directions.

`anthropic_outbound` speaks to Anthropic upstreams (canonical request out, completion and chunks
back); `anthropic_inbound` serves Anthropic clients at `POST /v1/messages`.
"""

from __future__ import annotations

from steward.wire.anthropic_inbound import (
    ANTHROPIC_ERROR_TYPES,
    STOP_REASONS,
    AnthropicMessage,
    AnthropicTool,
    MessagesRequest,
    MessagesStreamEncoder,
    anthropic_error_type,
    chat_to_messages_response,
    error_body,
    error_event,
    message_id,
    messages_to_chat,
)
from steward.wire.anthropic_outbound import (
    FINISH_REASONS,
    AnthropicStreamDecoder,
    error_message,
    from_anthropic_response,
    to_anthropic_request,
    usage_from_anthropic,
)

__all__ = [
    "ANTHROPIC_ERROR_TYPES",
    "FINISH_REASONS",
    "STOP_REASONS",
    "AnthropicMessage",
    "AnthropicStreamDecoder",
    "AnthropicTool",
    "MessagesRequest",
    "MessagesStreamEncoder",
    "anthropic_error_type",
    "chat_to_messages_response",
    "error_body",
    "error_event",
    "error_message",
    "from_anthropic_response",
    "message_id",
    "messages_to_chat",
    "to_anthropic_request",
    "usage_from_anthropic",
]
