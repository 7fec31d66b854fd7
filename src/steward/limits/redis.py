"""Limits shared by every replica: one Lua script call per reserve and one per settle, in Redis.

Keys (under the store's prefix): `rl:<rule key>` is a HASH holding a rate rule's window as
`window.Counter` holds it (field `t`: the running total, `o`: the oldest index that may be held,
and one field per bucket held: index -> count), at most `BUCKETS + 3` fields; it lives
`window_s + 2 * width` past the first admission into its newest bucket (so at least one bucket
longer than anything it holds counts) and is deleted when its last bucket leaves.
`bud:<rule key>` holds a budget's spend, created from the rule's seed when absent and expiring
with its period (never, for a total budget). The caller's clock (`now`) decides buckets and
expiries, so replicas agree as closely as their clocks do. The decision is made inside the
script, atomically across all rules of a request.

A rate rule counts the last `BUCKETS + 1` buckets of its window (`window.py`): over any span of
`window_s` seconds it never admits more than its limit, and under sustained overload a span
admits at most one bucket's content (100 ms of a minute) less. The script repeats
`Counter.expire`, `add`, `adjust` and `freeing` step for step (so a reserve costs the buckets
that left since the rule's last request, not a sum over the window) and compares as
`window.fits` does. It writes every double as `%.17g` (not with HINCRBYFLOAT, which adds in long
double and stores a rounded decimal), so the hash holds exactly what memory would, and the two
backends decide alike on the same inputs.

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
from steward.limits.window import BUCKETS, Counter
from steward.storage.redis import RedisStore
from steward.storage.resp import Arg, RespError

__all__ = ["RedisLimiter", "Script"]

# `window.Counter` in Lua, on a rate hash (`n` is BUCKETS). `held_in` reads the buckets held in
# `from ..< to`, oldest first: by index, or (when there are more indices than buckets held) by
# reading the whole hash and sorting; the same list either way. `expire` drops the buckets below
# `first` and returns the total, the oldest index, whether those two need writing, and the
# count of `field` as read. `freeing` returns the field of the bucket whose leaving makes
# `amount` fit ('' when none is held, or it never fits): it reads the first 8 indices, then the
# rest, and moves `o` up to the oldest bucket it found, so the next refusal starts there.
COUNTER_LUA = """
local function fmt(x)
  return string.format('%.17g', x)
end
local function index(b)
  return string.format('%d', b)
end
local function held_in(key, from, to, held)
  local fields, counts = {}, {}
  if to - from <= held then
    local asked = {}
    for b = from, to - 1 do
      asked[#asked + 1] = index(b)
    end
    local found = redis.call('HMGET', key, unpack(asked))
    for j = 1, #asked do
      if found[j] then
        fields[#fields + 1] = asked[j]
        counts[#counts + 1] = tonumber(found[j])
      end
    end
    return fields, counts
  end
  local flat, order, at = redis.call('HGETALL', key), {}, {}
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b and b >= from and b < to then
      order[#order + 1] = b
      at[b] = j
    end
  end
  table.sort(order)
  for j = 1, #order do
    fields[j] = flat[at[order[j]]]
    counts[j] = tonumber(flat[at[order[j]] + 1])
  end
  return fields, counts
end
local function expire(key, first, n, field)
  local head = redis.call('HMGET', key, 't', 'o', field)
  local o = tonumber(head[2])
  if not o then
    return 0, first, false, nil
  end
  local t = tonumber(head[1])
  if first == o or (first < o and first >= o - 2 * n - 1) then
    return t, o, false, head[3]
  end
  if first < o or first > o + n + 1 then
    redis.call('DEL', key)
    return 0, first, false, nil
  end
  local held = nil
  if first - o > 32 then
    held = redis.call('HLEN', key) - 2
  end
  local fields, counts = held_in(key, o, first, held or first - o)
  if #fields > 0 then
    held = held or redis.call('HLEN', key) - 2
    if #fields == held then
      redis.call('DEL', key)
      return 0, first, false, nil
    end
    for j = 1, #counts do
      t = t - counts[j]
      if t < 0 then
        t = 0
      end
    end
    redis.call('HDEL', key, unpack(fields))
  end
  return t, first, true, head[3]
end
local function freeing(key, t, o, amount, ceiling, n)
  local held, seen = redis.call('HLEN', key) - 2, 0
  if amount > ceiling or held <= 0 then
    return ''
  end
  local runs = {{o, o + 8}, {o + 8, o + n + 1}}
  if held < 8 then
    runs = {{o, o + n + 1}}
  end
  for _, run in ipairs(runs) do
    local fields, counts = held_in(key, run[1], run[2], held)
    if seen == 0 and #fields > 0 and tonumber(fields[1]) > o then
      redis.call('HSET', key, 'o', fields[1])
    end
    for j = 1, #fields do
      seen = seen + 1
      t = t - counts[j]
      if t < 0 then
        t = 0
      end
      if seen == held or t + amount <= ceiling then
        return fields[j]
      end
    end
  end
  return ''
end
"""

# KEYS: one per rule, a rate rule's hash or a budget's counter. ARGV: six per rule: kind,
# ceiling, amount, then for a rate rule the current and the oldest bucket counted, for a budget
# its seed and '', then the TTL in ms (0: none). Replies {} when every rule took the request,
# else the refusing rule's 0-based index and either its total and freeing bucket (rate) or its
# spend (budget). What a refused request expired is written back; a rate hash's TTL is renewed
# when a bucket is created.
RESERVE_SCRIPT = (
    COUNTER_LUA
    + """
local state = {}
for i = 1, #ARGV, 6 do
  local k, key = (i - 1) / 6 + 1, KEYS[(i - 1) / 6 + 1]
  local ceiling, amount = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if ARGV[i] == 'rate' then
    local current, first = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
    if not state[key] then  -- a key asked twice is expired once
      local t, o, dirty, count = expire(key, first, current - first, ARGV[i + 3])
      state[key] = {t = t, o = o, dirty = dirty, count = count}
    end
    local t, o = state[key].t, state[key].o
    if t + amount > ceiling then
      for name, s in pairs(state) do
        if s.dirty then
          redis.call('HSET', name, 't', fmt(s.t), 'o', index(s.o))
        end
      end
      return {k - 1, fmt(t), freeing(key, t, o, amount, ceiling, current - first)}
    end
  else
    local spend = redis.call('GET', key)
    state[key] = state[key] or {exists = spend ~= false}
    if tonumber(spend or ARGV[i + 3]) + amount > ceiling then
      return {k - 1, spend or ARGV[i + 3]}
    end
  end
end
for i = 1, #ARGV, 6 do
  local key, s, ttl = KEYS[(i - 1) / 6 + 1], state[KEYS[(i - 1) / 6 + 1]], tonumber(ARGV[i + 5])
  if ARGV[i] == 'rate' then
    local amount, b, count = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), s.count
    if b < s.o then
      b = s.o
      count = redis.call('HGET', key, index(b))
    end
    local field = index(b)
    s.t = s.t + amount
    redis.call('HSET', key, field, fmt(tonumber(count or '0') + amount), 't', fmt(s.t),
      'o', index(s.o))
    if not count then
      redis.call('PEXPIRE', key, ttl)
    end
    s.count = fmt(tonumber(count or '0') + amount)
  else
    if not s.exists then
      if ttl > 0 then
        redis.call('SET', key, ARGV[i + 3], 'PX', ttl)
      else
        redis.call('SET', key, ARGV[i + 3])
      end
      s.exists = true
    end
    redis.call('INCRBYFLOAT', key, ARGV[i + 2])
  end
end
return {}
"""
)

# KEYS: one counter per rule to settle; ARGV: kind, difference and bucket ('' for a budget), per
# key. A bucket that left the count, or a budget whose period is over, is left alone; neither a
# bucket nor the total goes below 0 (`Counter.adjust`).
SETTLE_SCRIPT = """
for i = 1, #KEYS do
  local kind, delta, field = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if kind == 'rate' then
    local read = redis.call('HMGET', KEYS[i], field, 't')
    if read[1] then
      local count = tonumber(read[1])
      local value = count + tonumber(delta)
      if value < 0 then
        value = 0
      end
      local t = tonumber(read[2]) + (value - count)
      if t < 0 then
        t = 0
      end
      redis.call('HSET', KEYS[i], field, string.format('%.17g', value),
        't', string.format('%.17g', t))
    end
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBYFLOAT', KEYS[i], delta)
  end
end
return #KEYS
"""

# KEYS: a budget counter and a rate hash per key asked about. Replies, per key, the spend
# ('' when absent) and the whole hash {field, value, ...}. Reads only: `usage` expires a copy.
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
            case [int(index), bytes(spend)] if 0 <= index < len(rules):
                return _refusal(rules[index], now, spend, b"")
            case [int(index), bytes(total), bytes(freeing)] if 0 <= index < len(rules):
                return _refusal(rules[index], now, total, freeing)
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
                counter = _counter(values[2 * n + 1])
                counter.expire(window.bucket_of(now, rule.window_s) - BUCKETS)
                found[rule.key] = counter.total
        return found

    def _reserve_args(self, rule: Rule, now: float, keys: list[str], args: list[Arg]) -> None:
        head: list[Arg] = [rule.kind, window.ceiling(rule.limit), rule.amount]
        if rule.kind == "rate":
            current = math.floor(now / (rule.window_s / BUCKETS))
            keys.append(self._rate_key(rule))
            ttl_ms = math.ceil((rule.window_s + 2 * window.bucket_width(rule.window_s)) * 1000)
            args += [*head, current, current - BUCKETS, ttl_ms]
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


def _counter(flat: object) -> Counter:
    """A rate hash as HGETALL returns it (field, value, field, value, ...) as a `Counter`."""
    if not isinstance(flat, list) or len(flat) % 2:
        raise StorageError(f"unexpected rate hash from Redis: {flat!r}")
    counter = Counter()
    for field, raw in zip(flat[::2], flat[1::2], strict=True):
        value = _number(raw)
        if not isinstance(field, bytes) or value is None:
            raise StorageError(f"unexpected field of a rate hash: {field!r} = {raw!r}")
        if field == b"t":
            counter.total = value
        elif field == b"o":
            counter.oldest = int(value)
        else:
            counter.counts[int(field)] = value
    return counter


def _refusal(rule: Rule, now: float, used: bytes, freeing: bytes) -> Refusal:
    if rule.kind == "budget":
        spend = _number(used) or 0.0
        return Refusal(rule, window.budget_retry_after(now, rule.expires_at), spend)
    bucket = int(freeing) if freeing else None
    args = (bucket, now, rule.window_s, rule.limit, rule.amount)
    return Refusal(rule, window.rate_retry_after(*args), float(used))
