"""The auth stage: the presented key must be in the in-memory key ring."""

from __future__ import annotations

from steward.auth.keyring import ANONYMOUS, KeyRing, Principal
from steward.errors import AuthenticationError, PermissionDeniedError
from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next


class AuthStage:
    def __init__(self, keyring: KeyRing, *, required: bool) -> None:
        self._keyring = keyring
        self._required = required

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        principal = authenticate(self._keyring, ctx.credential, required=self._required)
        if principal.role in _NO_CALLS:
            raise PermissionDeniedError(
                f"A key with role {principal.role!r} may not call models; use an app key "
                "(`steward keys create --app APP`) or a developer's key."
            )
        ctx.principal = principal
        return await call_next(ctx)


_NO_CALLS = frozenset({"reviewer", "viewer"})


def authenticate(keyring: KeyRing, credential: str | None, *, required: bool) -> Principal:
    """The principal for a credential, or AuthenticationError saying how to fix it."""
    if not required:
        return (keyring.lookup(credential) if credential else None) or ANONYMOUS
    if not credential:
        raise AuthenticationError(
            "No API key provided. Send it as `Authorization: Bearer <key>` "
            "(or `x-api-key: <key>`); create one with `steward keys create --name NAME`."
        )
    principal = keyring.lookup(credential)
    if principal is None:
        raise AuthenticationError(
            "The API key is not valid: it is unknown, revoked or expired. "
            "Check the key, or create a new one with `steward keys create --name NAME`."
        )
    return principal
