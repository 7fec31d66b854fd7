"""Limits shared by every replica: one Lua script call per reserve and one per settle, in Redis.

Keys (under the store's prefix): `rl:<rule key>:<window index>` holds one fixed window of a
rate rule and lives `2 * window_s + 1` seconds; `bud:<rule key>` holds a budget's spend, created
from the rule's seed when absent and expiring with its period (never, for a total budget).
The caller's clock (`now`) decides windows and expiries, so replicas agree as closely as their
clocks do. The decision is made inside the script, atomically across all rules of a request;
`window.py` explains a refusal (used, retry after) from the counts the script returns.

A `StorageError` from the store (Redis unreachable, timed out, or an error reply) propagates:
`failover.py` decides what to do without Redis.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from steward.errors import StorageError
from steward.limits import window
from steward.limits.base import Refusal, Reservation, Rule
from steward.storage.redis import RedisStore
from steward.storage.resp import Arg, RespError

__all__ = ["RedisLimiter", "Script"]

# KEYS: a rate rule's current and previous window, or a budget's counter, rule after rule.
# ARGV: five per rule: kind, ceiling, amount, previous-window weight (rate) or seed (budget),
# TTL in ms (0: none). Replies {} when every rule took the request, else the refusing rule's
# 0-based index and its raw counts: {i, previous, current} or {i, spend, ""}.
RESERVE_SCRIPT = """
local k = 1
for i = 1, #ARGV, 5 do
  local ceiling, amount = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if ARGV[i] == 'rate' then
    local current = redis.call('GET', KEYS[k]) or '0'
    local previous = redis.call('GET', KEYS[k + 1]) or '0'
    if tonumber(previous) * tonumber(ARGV[i + 3]) + tonumber(current) + amount > ceiling then
      return {(i - 1) / 5, previous, current}
    end
    k = k + 2
  else
    local spend = redis.call('GET', KEYS[k]) or ARGV[i + 3]
    if tonumber(spend) + amount > ceiling then
      return {(i - 1) / 5, spend, ''}
    end
    k = k + 1
  end
end
k = 1
for i = 1, #ARGV, 5 do
  local ttl = tonumber(ARGV[i + 4])
  if ARGV[i] == 'rate' then
    redis.call('INCRBYFLOAT', KEYS[k], ARGV[i + 2])
    redis.call('PEXPIRE', KEYS[k], ttl)
    k = k + 2
  else
    if redis.call('EXISTS', KEYS[k]) == 0 then
      if ttl > 0 then
        redis.call('SET', KEYS[k], ARGV[i + 3], 'PX', ttl)
      else
        redis.call('SET', KEYS[k], ARGV[i + 3])
      end
    end
    redis.call('INCRBYFLOAT', KEYS[k], ARGV[i + 2])
    k = k + 1
  end
end
return {}
"""

# KEYS: one counter per rule to settle; ARGV: kind and difference, per key. A counter that is
# gone (its window or period is over) is left alone; a window never goes below 0.
SETTLE_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local value = tonumber(redis.call('INCRBYFLOAT', KEYS[i], ARGV[2 * i]))
    if ARGV[2 * i - 1] == 'rate' and value < 0 then
      redis.call('SET', KEYS[i], '0', 'KEEPTTL')
    end
  end
end
return #KEYS
"""


class Script:
    """A Lua script run by its SHA1, sent whole only when Redis does not know it yet."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, store: RedisStore, keys: Sequence[str], args: Sequence[Arg]) -> object:
        try:
            return await store.command("EVALSHA", self.sha, len(keys), *keys, *args)
        except StorageError as exc:
            if not _no_script(exc):
                raise
        # EVAL also caches the script, so the next EVALSHA finds it.
        return await store.command("EVAL", self.source, len(keys), *keys, *args)


def _no_script(exc: StorageError) -> bool:
    """Whether Redis answered NOSCRIPT (after a restart or SCRIPT FLUSH).

    `RedisStore` keeps the reply only as the translated error's context: a `RespError` whose
    text starts with the error code, or redis-py's `NoScriptError`, named in the message."""
    cause = exc.__context__
    if isinstance(cause, RespError):
        return str(cause).startswith("NOSCRIPT")
    return "(NoScriptError)" in exc.message


_RESERVE = Script(RESERVE_SCRIPT)
_SETTLE = Script(SETTLE_SCRIPT)


class RedisLimiter:
    """A `Limiter` whose counters live in Redis, shared by every replica using the same prefix."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def reserve(self, rules: Sequence[Rule], now: float) -> Reservation | Refusal:
        keys: list[str] = []
        args: list[Arg] = []
        for rule in rules:
            self._reserve_args(rule, now, keys, args)
        reply = await _RESERVE.run(self.store, keys, args) if rules else []
        if reply == []:
            return Reservation(rules=tuple(rules), now=now)
        match reply:
            case [int(index), first, second] if 0 <= index < len(rules):
                return _refusal(rules[index], now, first, second)
        raise StorageError(f"unexpected reply from the limits script: {reply!r}")

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        """Apply the differences; `reservation.settled` is set only once Redis has them, so a
        failed settle can be retried."""
        if reservation.settled:
            return
        keys: list[str] = []
        args: list[Arg] = []
        for rule in reservation.rules:
            delta = actual.get(rule.key, rule.amount) - rule.amount
            if delta != 0:
                keys.append(self._counter_key(rule, reservation.now))
                args += [rule.kind, delta]
        if keys:
            await _SETTLE.run(self.store, keys, args)
        reservation.settled = True

    async def usage(self, keys: Sequence[str | Rule], now: float) -> dict[str, float]:
        """Budget spend or sliding-window count per key, in one MGET. A bare key is read as a
        budget when its counter exists, else as a rate rule of the default 60 s window."""
        rules = [Rule(k, k, "rate", 0.0, 0.0) if isinstance(k, str) else k for k in keys]
        names: list[str] = []
        for rule in rules:
            names.append(self._budget_key(rule))
            index = window.window_index(now, rule.window_s)
            names += [self._rate_key(rule, index), self._rate_key(rule, index - 1)]
        values = await self.store.command("MGET", *names) if rules else []
        if not isinstance(values, list):
            raise StorageError(f"unexpected reply to MGET: {values!r}")
        found: dict[str, float] = {}
        for n, rule in enumerate(rules):
            spend, current, previous = (_number(v) for v in values[3 * n : 3 * n + 3])
            if rule.kind == "budget" or spend is not None:
                found[rule.key] = rule.seed if spend is None else spend
            else:
                weight = window.previous_weight(now, rule.window_s)
                found[rule.key] = window.sliding_used(previous or 0.0, current or 0.0, weight)
        return found

    def _reserve_args(self, rule: Rule, now: float, keys: list[str], args: list[Arg]) -> None:
        head: list[Arg] = [rule.kind, window.ceiling(rule.limit), rule.amount]
        if rule.kind == "rate":
            index = window.window_index(now, rule.window_s)
            keys += [self._rate_key(rule, index), self._rate_key(rule, index - 1)]
            ttl_ms = math.ceil((2 * rule.window_s + 1) * 1000)
            args += [*head, window.previous_weight(now, rule.window_s), ttl_ms]
            return
        keys.append(self._budget_key(rule))
        ttl_ms = 0 if rule.expires_at is None else max(1, math.ceil((rule.expires_at - now) * 1000))
        args += [*head, rule.seed, ttl_ms]

    def _counter_key(self, rule: Rule, now: float) -> str:
        if rule.kind == "budget":
            return self._budget_key(rule)
        return self._rate_key(rule, window.window_index(now, rule.window_s))

    def _rate_key(self, rule: Rule, index: int) -> str:
        return self.store.key("rl", rule.key, str(index))

    def _budget_key(self, rule: Rule) -> str:
        return self.store.key("bud", rule.key)


def _number(value: object) -> float | None:
    """A counter as Redis returns it (bulk string, or nil when absent)."""
    if value is None or value == b"":
        return None
    if isinstance(value, bytes | str | int | float):
        return float(value)
    raise StorageError(f"unexpected counter value from Redis: {value!r}")


def _refusal(rule: Rule, now: float, first: object, second: object) -> Refusal:
    if rule.kind == "budget":
        spend = _number(first) or 0.0
        return Refusal(rule, window.budget_retry_after(now, rule.expires_at), spend)
    previous, current = _number(first) or 0.0, _number(second) or 0.0
    used = window.sliding_used(previous, current, window.previous_weight(now, rule.window_s))
    args = (previous, current, now, rule.window_s, rule.limit, rule.amount)
    return Refusal(rule, window.rate_retry_after(*args), used)
