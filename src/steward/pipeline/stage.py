"""The stage protocol and the chain builder: stages wrap each other like ASGI middleware."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from steward.pipeline.context import CallContext
from steward.pipeline.result import Result

Next = Callable[[CallContext], Awaitable[Result]]


class Stage(Protocol):
    """One step of the request path. Refuses by raising a StewardError; never knows about HTTP."""

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result: ...


def build_chain(stages: Sequence[Stage], terminal: Next) -> Next:
    """Compose stages so that the first in the list runs outermost."""
    handler = terminal
    for stage in reversed(stages):
        handler = functools.partial(stage, call_next=handler)
    return handler
