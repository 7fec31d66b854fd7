"""The whole Steward exception tree; every error knows its HTTP status and OpenAI error type.

    StewardError                      500 api_error
    ├── ConfigError                   (startup only; never reaches a client)
    ├── InvalidRequestError           400 invalid_request_error
    │   ├── RequestTooLargeError      413 invalid_request_error
    │   ├── GuardBlockedError         400 invalid_request_error (code guard_blocked; names the guard)
    │   └── UnknownModelError         404 invalid_request_error (code model_not_found)
    ├── AuthenticationError           401 authentication_error
    ├── PermissionDeniedError         403 permission_error
    ├── RateLimitedError              429 rate_limit_error (names the limit; Retry-After)
    ├── BudgetExceededError           429 insufficient_quota (names the budget and its reset)
    ├── NotFoundError                 404 not_found_error
    ├── ClientDisconnectedError       499 client_closed_request (recorded, never rendered)
    ├── StorageError                  503 storage_error (translated from SQLAlchemy)
    ├── PayloadKeyError               500 payload_key_error (a stored payload cannot be decrypted)
    ├── ProviderError                 502 upstream_error  (anything that went wrong upstream)
    │   ├── UpstreamStatusError       upstream's status (4xx passed through, 5xx as 502)
    │   ├── UpstreamTimeoutError      504 timeout_error
    │   ├── UpstreamConnectionError   502 upstream_connection_error
    │   ├── UpstreamProtocolError     502 upstream_error (malformed body or stream)
    │   ├── OutputGuardError          502 output_guard_error (code output_invalid; the answer failed
    │   │                             an output guard; the fallback loop tries the next target)
    │   └── AllTargetsFailedError     502, 504 or 429 all_targets_failed (every attempt listed)
    ├── NoHealthyTargetError          503 service_unavailable
    └── OverloadedError               503 overloaded_error (local model queue full)

Messages say what to do. Detail that helps an operator but not a caller goes to logs, not here.
"""

from __future__ import annotations

import math
from typing import ClassVar

__all__ = [
    "AllTargetsFailedError",
    "AuthenticationError",
    "BudgetExceededError",
    "ClientDisconnectedError",
    "ConfigError",
    "GuardBlockedError",
    "InvalidRequestError",
    "NoHealthyTargetError",
    "NotFoundError",
    "OutputGuardError",
    "OverloadedError",
    "PayloadKeyError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitedError",
    "RequestTooLargeError",
    "StewardError",
    "StorageError",
    "UnknownModelError",
    "UpstreamConnectionError",
    "UpstreamProtocolError",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
]


class StewardError(Exception):
    """Base of every error Steward raises on purpose."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        return self.status

    def headers(self) -> dict[str, str]:
        return {}


class ConfigError(StewardError):
    """The configuration is invalid; raised at startup and by `steward config check`."""


class InvalidRequestError(StewardError):
    status = 400
    error_type = "invalid_request_error"


class RequestTooLargeError(InvalidRequestError):
    status = 413


class GuardBlockedError(InvalidRequestError):
    """A guard refused the request or the answer. The message names the guard and what to do,
    never the detection details an attacker could tune against."""

    code = "guard_blocked"

    def __init__(self, guard: str, message: str) -> None:
        super().__init__(message, code="guard_blocked")
        self.guard = guard


class UnknownModelError(InvalidRequestError):
    status = 404
    code = "model_not_found"


class AuthenticationError(StewardError):
    status = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(StewardError):
    status = 403
    error_type = "permission_error"


class RateLimitedError(StewardError):
    """A rate limit of Steward's own (not upstream's) refused the request."""

    status = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"retry-after": f"{max(1, math.ceil(self.retry_after_s))}"}


class BudgetExceededError(RateLimitedError):
    error_type = "insufficient_quota"
    code = "budget_exceeded"

    def headers(self) -> dict[str, str]:
        """No Retry-After for a total budget (retry_after_s 0): waiting will not help."""
        return super().headers() if self.retry_after_s > 0 else {}


class NotFoundError(StewardError):
    status = 404
    error_type = "not_found_error"


class ClientDisconnectedError(StewardError):
    status = 499
    error_type = "client_disconnected"


class StorageError(StewardError):
    status = 503
    error_type = "storage_error"


class PayloadKeyError(StewardError):
    """A captured payload's key is not configured, or its ciphertext fails authentication."""

    error_type = "payload_key_error"


class ProviderError(StewardError):
    status = 502
    error_type = "upstream_error"


class UpstreamStatusError(ProviderError):
    """Upstream answered with an error status; 4xx are the caller's to fix and pass through."""

    def __init__(self, message: str, *, upstream_status: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.upstream_status = upstream_status
        self.retry_after: float | None = None

    @property
    def http_status(self) -> int:
        if 400 <= self.upstream_status < 500:
            return self.upstream_status
        return 502

    @property
    def client_error(self) -> bool:
        return 400 <= self.upstream_status < 500 and self.upstream_status not in (408, 429)

    def headers(self) -> dict[str, str]:
        if self.retry_after is not None and self.upstream_status == 429:
            return {"retry-after": f"{max(1, round(self.retry_after))}"}
        return {}


class UpstreamTimeoutError(ProviderError):
    status = 504
    error_type = "timeout_error"


class UpstreamConnectionError(ProviderError):
    error_type = "upstream_connection_error"


class UpstreamProtocolError(ProviderError):
    error_type = "upstream_error"


class OutputGuardError(ProviderError):
    """The target's answer failed an output guard (its JSON Schema, after repair and re-asks).
    The target is up, so the fallback loop moves to the next target without retrying it."""

    error_type = "output_guard_error"
    code = "output_invalid"

    def __init__(self, guard: str, message: str) -> None:
        super().__init__(message, code="output_invalid")
        self.guard = guard


class AllTargetsFailedError(ProviderError):
    """Every attempt of the fallback loop failed; the message lists each one."""

    code = "all_targets_failed"

    def __init__(self, message: str, *, causes: list[StewardError]) -> None:
        super().__init__(message)
        self.causes = causes

    @property
    def http_status(self) -> int:
        statuses = {getattr(c, "upstream_status", c.http_status) for c in self.causes}
        if statuses == {429}:
            return 429
        if self.causes and all(isinstance(c, UpstreamTimeoutError) for c in self.causes):
            return 504
        return 502

    def headers(self) -> dict[str, str]:
        waits = [
            c.retry_after
            for c in self.causes
            if isinstance(c, UpstreamStatusError) and c.retry_after is not None
        ]
        if self.http_status == 429:
            return {"retry-after": f"{max(1, round(min(waits)))}" if waits else "1"}
        return {}


class NoHealthyTargetError(StewardError):
    status = 503
    error_type = "service_unavailable"
    retry_after: float | None = None
    """Seconds until a target may be tried again (its circuit breaker half-opens), if known."""

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": f"{max(1, round(self.retry_after))}"}


class OverloadedError(StewardError):
    status = 503
    error_type = "overloaded_error"

    def headers(self) -> dict[str, str]:
        return {"retry-after": "1"}
