"""The chain: stages wrap each other in config order and can short-circuit or act afterwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from steward.auth.keyring import KeyRing, Principal, hash_secret
from steward.pipeline.context import CallContext
from steward.pipeline.result import Completion, Result
from steward.pipeline.stage import Next, build_chain


class Tracing:
    def __init__(self, name: str, log: list[str], *, stop: bool = False) -> None:
        self.name, self.log, self.stop = name, log, stop

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        self.log.append(f"{self.name}>")
        if self.stop:
            return Completion({"short": self.name})
        result = await call_next(ctx)
        self.log.append(f"<{self.name}")
        return result


def context() -> CallContext:
    return CallContext(id="r", endpoint="chat", raw_body=b"{}", credential=None)


def test_first_stage_runs_outermost() -> None:
    log: list[str] = []

    async def terminal(ctx: CallContext) -> Result:
        log.append("call")
        return Completion({})

    chain = build_chain([Tracing("a", log), Tracing("b", log)], terminal)
    asyncio.run(chain(context()))
    assert log == ["a>", "b>", "call", "<b", "<a"]


def test_a_stage_can_short_circuit() -> None:
    log: list[str] = []

    async def terminal(ctx: CallContext) -> Result:
        raise AssertionError("must not be reached")

    chain = build_chain([Tracing("a", log), Tracing("b", log, stop=True)], terminal)
    result = asyncio.run(chain(context()))
    assert isinstance(result, Completion) and result.body == {"short": "b"}
    assert log == ["a>", "b>", "<a"]


def test_keyring_lookup_and_expiry() -> None:
    ring = KeyRing()
    past = datetime.now(UTC) - timedelta(seconds=1)
    ring.replace(
        [
            (hash_secret("good"), Principal("k1", "n", "app")),
            (hash_secret("old"), Principal("k2", "n", "app", expires_at=past)),
        ]
    )
    assert ring.lookup("good") == Principal("k1", "n", "app")
    assert ring.lookup("old") is None
    assert ring.lookup("unknown") is None
