"""Limits shared by every replica: one Lua script call per reserve and one per settle, in Redis.

Keys (under the store's prefix): `rl:<rule key>` is a HASH holding a rate rule's buckets (field:
bucket index, value: count) and lives `window_s + 2 * width` past its last admission;
`bud:<rule key>` holds a budget's spend, created from the rule's seed when absent and expiring
with its period (never, for a total budget). The caller's clock (`now`) decides buckets and
expiries, so replicas agree as closely as their clocks do. The decision is made inside the
script, atomically across all rules of a request; `window.py` explains a refusal (used, retry
after) from the buckets the script returns.

A rate rule counts the last `BUCKETS + 1` buckets of its window (`window.py`): over any span of
`window_s` seconds it never admits more than its limit, and it under-admits by at most one
bucket's width. The script sums the buckets oldest first and compares as `window.fits` does.
It writes a bucket as `%.17g` of the double it computed (not with HINCRBYFLOAT, which adds in
long double and stores a rounded decimal), so a bucket holds exactly what memory would, and the
two backends decide alike on the same inputs.

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

# KEYS: one per rule, a rate rule's bucket hash or a budget's counter. ARGV: six per rule: kind,
# ceiling, amount, then for a rate rule the oldest and the current bucket counted, for a budget
# its seed and '', then the TTL in ms (0: none). Buckets older than the oldest are deleted.
# Replies {} when every rule took the request, else the refusing rule's 0-based index and
# either its buckets still held {field, count, ...} (rate) or its spend (budget).
RESERVE_SCRIPT = """
for i = 1, #ARGV, 6 do
  local k = (i - 1) / 6 + 1
  local ceiling, amount = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if ARGV[i] == 'rate' then
    local oldest, current = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
    local flat = redis.call('HGETALL', KEYS[k])
    local counts, held, stale = {}, {}, {}
    for j = 1, #flat, 2 do
      local bucket = tonumber(flat[j])
      if bucket < oldest then
        stale[#stale + 1] = flat[j]
      else
        counts[bucket] = tonumber(flat[j + 1])
        held[#held + 1] = flat[j]
        held[#held + 1] = flat[j + 1]
      end
    end
    if #stale > 0 then
      redis.call('HDEL', KEYS[k], unpack(stale))
    end
    local used = 0
    for bucket = oldest, current do
      if counts[bucket] then
        used = used + counts[bucket]
      end
    end
    if used + amount > ceiling then
      return {k - 1, held}
    end
  else
    local spend = redis.call('GET', KEYS[k]) or ARGV[i + 3]
    if tonumber(spend) + amount > ceiling then
      return {k - 1, spend}
    end
  end
end
for i = 1, #ARGV, 6 do
  local k = (i - 1) / 6 + 1
  local ttl = tonumber(ARGV[i + 5])
  if ARGV[i] == 'rate' then
    local field = ARGV[i + 4]
    local count = tonumber(redis.call('HGET', KEYS[k], field) or '0')
    redis.call('HSET', KEYS[k], field, string.format('%.17g', count + tonumber(ARGV[i + 2])))
    redis.call('PEXPIRE', KEYS[k], ttl)
  else
    if redis.call('EXISTS', KEYS[k]) == 0 then
      if ttl > 0 then
        redis.call('SET', KEYS[k], ARGV[i + 3], 'PX', ttl)
      else
        redis.call('SET', KEYS[k], ARGV[i + 3])
      end
    end
    redis.call('INCRBYFLOAT', KEYS[k], ARGV[i + 2])
  end
end
return {}
"""

# KEYS: one counter per rule to settle; ARGV: kind, difference and bucket ('' for a budget), per
# key. A counter that is gone (its bucket left the count, or its period is over) is left alone;
# a bucket never goes below 0.
SETTLE_SCRIPT = """
for i = 1, #KEYS do
  local kind, delta, field = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if kind == 'rate' then
    local count = redis.call('HGET', KEYS[i], field)
    if count then
      local value = tonumber(count) + tonumber(delta)
      if value < 0 then
        value = 0
      end
      redis.call('HSET', KEYS[i], field, string.format('%.17g', value))
    end
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBYFLOAT', KEYS[i], delta)
  end
end
return #KEYS
"""

# KEYS: a budget counter and a bucket hash per key asked about. Replies, per key, the spend
# ('' when absent) and every bucket held {field, count, ...}. Reads only.
USAGE_SCRIPT = """
local found = {}
for i = 1, #KEYS, 2 do
  found[#found + 1] = redis.call('GET', KEYS[i]) or ''
  found[#found + 1] = redis.call('HGETALL', KEYS[i + 1])
end
return found
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
_USAGE = Script(USAGE_SCRIPT)


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
            case [int(index), held] if 0 <= index < len(rules):
                return _refusal(rules[index], now, held)
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
            if delta == 0:
                continue
            if rule.kind == "budget":
                keys.append(self._budget_key(rule))
                args += [rule.kind, delta, ""]
            else:
                keys.append(self._rate_key(rule))
                args += [rule.kind, delta, window.bucket_of(reservation.now, rule.window_s)]
        if keys:
            await _SETTLE.run(self.store, keys, args)
        reservation.settled = True

    async def usage(self, keys: Sequence[str | Rule], now: float) -> dict[str, float]:
        """Budget spend or window count per key, in one script call. A bare key is read as a
        budget when its counter exists, else as a rate rule of the default 60 s window."""
        rules = [Rule(k, k, "rate", 0.0, 0.0) if isinstance(k, str) else k for k in keys]
        names: list[str] = []
        for rule in rules:
            names += [self._budget_key(rule), self._rate_key(rule)]
        values = await _USAGE.run(self.store, names, []) if rules else []
        if not isinstance(values, list) or len(values) != len(names):
            raise StorageError(f"unexpected reply from the usage script: {values!r}")
        found: dict[str, float] = {}
        for n, rule in enumerate(rules):
            spend = _number(values[2 * n])
            if rule.kind == "budget" or spend is not None:
                found[rule.key] = rule.seed if spend is None else spend
            else:
                counts = _buckets(values[2 * n + 1])
                found[rule.key] = window.rate_used(counts, now, rule.window_s)
        return found

    def _reserve_args(self, rule: Rule, now: float, keys: list[str], args: list[Arg]) -> None:
        head: list[Arg] = [rule.kind, window.ceiling(rule.limit), rule.amount]
        if rule.kind == "rate":
            counted = window.counted_buckets(now, rule.window_s)
            keys.append(self._rate_key(rule))
            width = window.bucket_width(rule.window_s)
            ttl_ms = math.ceil((rule.window_s + 2 * width) * 1000)
            args += [*head, counted.start, counted.stop - 1, ttl_ms]
            return
        keys.append(self._budget_key(rule))
        ttl_ms = 0 if rule.expires_at is None else max(1, math.ceil((rule.expires_at - now) * 1000))
        args += [*head, rule.seed, "", ttl_ms]

    def _rate_key(self, rule: Rule) -> str:
        return self.store.key("rl", rule.key)

    def _budget_key(self, rule: Rule) -> str:
        return self.store.key("bud", rule.key)


def _number(value: object) -> float | None:
    """A counter as Redis returns it (bulk string, or nil or '' when absent)."""
    if value is None or value == b"":
        return None
    if isinstance(value, bytes | str | int | float):
        return float(value)
    raise StorageError(f"unexpected counter value from Redis: {value!r}")


def _buckets(flat: object) -> dict[int, float]:
    """A bucket hash as HGETALL returns it: field, count, field, count, ..."""
    if not isinstance(flat, list) or len(flat) % 2:
        raise StorageError(f"unexpected bucket hash from Redis: {flat!r}")
    counts: dict[int, float] = {}
    for field, count in zip(flat[::2], flat[1::2], strict=True):
        value = _number(count)
        if not isinstance(field, bytes | str) or value is None:
            raise StorageError(f"unexpected bucket from Redis: {field!r} = {count!r}")
        counts[int(field)] = value
    return counts


def _refusal(rule: Rule, now: float, held: object) -> Refusal:
    if rule.kind == "budget":
        spend = _number(held) or 0.0
        return Refusal(rule, window.budget_retry_after(now, rule.expires_at), spend)
    counts = _buckets(held)
    used = window.rate_used(counts, now, rule.window_s)
    args = (counts, now, rule.window_s, rule.limit, rule.amount)
    return Refusal(rule, window.rate_retry_after(*args), used)
