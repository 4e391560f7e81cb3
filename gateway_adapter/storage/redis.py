"""Redis storage: keys, policies, rate-limit logs and quota counters shared by every gateway using one Redis.

    storage: redis://[:password@]host:6379/0[?prefix=asyncgate:]      (rediss://... for TLS)

Everything lives under a key prefix (default "asyncgate:"; `?prefix=` in the URL sets another, so that
several gateway clusters can share one Redis):

- Records of namespace N: hash `N` (id → record JSON), hash `N:indexed` (id → its index values, JSON) and,
  per unique index I, hash `N:index:I` (value → id). `put` and `delete` are Lua scripts, so the uniqueness
  check and the index upkeep are atomic across gateways.
- Rate limits: per counter C a sorted set `rate:C` of the requests that passed (score: the time in
  microseconds; member: unique per request), trimmed to the window and expiring with it. Quotas: per
  counter a hash `quota:C` (used, renews at) that expires when it renews. One Lua script checks every limit
  of a request and logs it in all or none; time comes from the Redis server (TIME), so every gateway judges
  a window by the same clock. The semantics are MemoryLimiter's (limits.py).

Any failure (connection refused, a timeout, an error answer) raises StorageError: the request is refused,
never waved through. The first failure of an outage is logged as a warning, the recovery once as info.
The scripts derive index key names from the prefix, so this needs one Redis server (not Redis Cluster).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..limits import ALLOWED, Clock, Limit, Verdict
from . import DuplicateIndex, Storage, StorageError

T = TypeVar("T")
log = logging.getLogger("asyncgate.storage")

DEFAULT_PREFIX = "asyncgate:"
# A request waits at most this long for Redis before it is refused; settable in the URL
# (?socket_timeout=, ?socket_connect_timeout=).
CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 2.0

_UNINDEX = """
-- Drop the index entries of record ID (those still pointing at it).
local function unindex(records, indexed, id)
  local old = redis.call('HGET', indexed, id)
  if not old then return end
  for name, value in pairs(cjson.decode(old)) do
    local key = records .. ':index:' .. name
    if redis.call('HGET', key, value) == id then redis.call('HDEL', key, value) end
  end
end
"""

_PUT = _UNINDEX + """
-- KEYS: records hash, indexed hash. ARGV: id, record JSON, index values JSON, create-only (1/0).
local records, indexed, id = KEYS[1], KEYS[2], ARGV[1]
if ARGV[4] == '1' and redis.call('HEXISTS', records, id) == 1 then return 0 end
local index = cjson.decode(ARGV[3])
for name, value in pairs(index) do
  local holder = redis.call('HGET', records .. ':index:' .. name, value)
  if holder and holder ~= id then return {'duplicate', name} end
end
unindex(records, indexed, id)
redis.call('HSET', records, id, ARGV[2])
redis.call('HSET', indexed, id, ARGV[3])
for name, value in pairs(index) do redis.call('HSET', records .. ':index:' .. name, value, id) end
return 1
"""

_DELETE = _UNINDEX + """
-- KEYS: records hash, indexed hash. ARGV: id.
local records, indexed, id = KEYS[1], KEYS[2], ARGV[1]
if redis.call('HDEL', records, id) == 0 then return 0 end
unindex(records, indexed, id)
redis.call('HDEL', indexed, id)
return 1
"""

_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""

_HIT = _NOW + """
-- KEYS: one sorted set per limit. ARGV: now in µs ('' = the server's clock), a unique member, then per
-- limit its rate and its window in µs. Returns {allowed, limit index, retry after µs, remaining, reset µs}.
local member = ARGV[2]
local refused, wait = 0, -1
for i, key in ipairs(KEYS) do
  local rate, per = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - per)  -- left the window (now - per, now]
  local count = redis.call('ZCARD', key)
  if count >= rate then
    -- Room again when the entry that makes the log full leaves the window.
    local rank = count - math.ceil(rate)
    local oldest = redis.call('ZRANGE', key, rank, rank, 'WITHSCORES')
    local w = tonumber(oldest[2]) + per - now
    if w > wait then refused, wait = i, w end
  end
end
if refused > 0 then return {0, refused, wait, 0, wait} end
local tightest, least, reset = 0, 0, 0
for i, key in ipairs(KEYS) do
  local rate, per = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, string.format('%.0f', now), member)
  redis.call('PEXPIRE', key, math.ceil(per / 1000))
  local remaining = math.floor(rate) - redis.call('ZCARD', key)
  if tightest == 0 or remaining < least then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    tightest, least, reset = i, remaining, tonumber(oldest[2]) + per - now
  end
end
return {1, tightest, 0, least, reset}
"""

_QUOTA = _NOW + """
-- KEYS: the quota's hash. ARGV: now in µs ('' = the server's clock), maximum, renewal in µs (<= 0: never).
-- Returns {allowed, remaining, µs until it renews (0: never)}.
local maximum, renewal = tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'used', 'renews')
local used, renews = tonumber(state[1]) or 0, tonumber(state[2]) or 0
if renewal > 0 and now >= renews then
  used, renews = 0, now + renewal
elseif renewal <= 0 then
  renews = -1
end
local allowed = used < maximum
if allowed then used = used + 1 end
redis.call('HSET', KEYS[1], 'used', used, 'renews', string.format('%.0f', renews))
local left = 0
if renews >= 0 then
  left = renews - now
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(left / 1000)))
else
  redis.call('PERSIST', KEYS[1])
end
if allowed then return {1, maximum - used, left} end
return {0, 0, left}
"""


class RedisConnection:
    """The client that records and limiter share: every failure becomes StorageError, logged once per outage."""

    def __init__(self, client: aioredis.Redis, prefix: str, where: str) -> None:
        self.client = client
        self.prefix = prefix
        self.where = where  # the URL without its password, for messages
        self.down = False
        self.put = client.register_script(_PUT)
        self.delete = client.register_script(_DELETE)
        self.hit = client.register_script(_HIT)
        self.quota = client.register_script(_QUOTA)

    async def __call__(self, operation: Awaitable[T]) -> T:
        try:
            result = await operation
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            if not self.down:
                self.down = True
                log.warning("storage %s failed, refusing requests until it answers: %s", self.where, exc)
            raise StorageError(f"storage {self.where} failed: {exc}") from None
        if self.down:
            self.down = False
            log.info("storage %s answers again", self.where)
        return result


class RedisRecords:
    """storage.Records in Redis (see the module docstring for the layout)."""

    def __init__(self, redis: RedisConnection, namespace: str) -> None:
        self._redis = redis
        self._records = redis.prefix + namespace
        self._indexed = self._records + ":indexed"

    async def get(self, record_id: str) -> dict[str, Any] | None:
        raw = await self._redis(self._redis.client.hget(self._records, record_id))
        return orjson.loads(raw) if raw is not None else None

    async def list(self) -> list[dict[str, Any]]:
        return [orjson.loads(raw) for raw in await self._redis(self._redis.client.hvals(self._records))]

    async def put(self, record_id: str, record: Mapping[str, Any], index: Mapping[str, str] | None = None, *,
                  create: bool = False) -> bool:
        index = dict(index or {})
        outcome = await self._redis(self._redis.put(
            keys=[self._records, self._indexed],
            args=[record_id, orjson.dumps(dict(record)), orjson.dumps(index), int(create)]))
        if isinstance(outcome, list):
            name = outcome[1].decode()
            raise DuplicateIndex(name, index[name])
        return bool(outcome)

    async def delete(self, record_id: str) -> bool:
        return bool(await self._redis(self._redis.delete(keys=[self._records, self._indexed], args=[record_id])))

    async def find(self, index: str, value: str) -> dict[str, Any] | None:
        record_id = await self._redis(self._redis.client.hget(f"{self._records}:index:{index}", value))
        return await self.get(record_id.decode()) if record_id is not None else None

    async def peek(self, index: str, value: str) -> dict[str, Any] | None:
        return await self.find(index, value)  # decoded afresh anyway: nothing shared to protect


class RedisLimiter:
    """limits.Limiter in Redis. CLOCK (seconds) replaces the server's clock: for tests only."""

    def __init__(self, redis: RedisConnection, clock: Clock | None = None) -> None:
        self._redis = redis
        self._clock = clock
        self._member = f"{secrets.token_hex(6)}:"  # + a sequence number: unique across gateways
        self._sequence = itertools.count()

    def _now(self) -> str:
        return str(round(self._clock() * 1e6)) if self._clock is not None else ""

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        active = [limit for limit in limits if limit.active]
        if not active:
            return ALLOWED
        args: list[Any] = [self._now(), f"{self._member}{next(self._sequence)}"]
        for limit in active:
            args += [repr(float(limit.rate)), round(limit.per * 1e6)]
        allowed, which, wait, remaining, reset = await self._redis(self._redis.hit(
            keys=[f"{self._redis.prefix}rate:{limit.counter}" for limit in active], args=args))
        limit = active[which - 1]
        if not allowed:
            return Verdict(False, wait / 1e6, limit.counter, 0, limit.rate, wait / 1e6)
        return Verdict(True, 0.0, limit.counter, remaining, limit.rate, reset / 1e6)

    async def consume_quota(self, counter: str, maximum: int, renewal: float) -> Verdict:
        if maximum <= 0:
            return ALLOWED
        renewal_us = round(renewal * 1e6) if renewal > 0 else 0
        allowed, remaining, left = await self._redis(self._redis.quota(
            keys=[f"{self._redis.prefix}quota:{counter}"], args=[self._now(), maximum, renewal_us]))
        return Verdict(bool(allowed), 0.0 if allowed else left / 1e6, counter, remaining, maximum, left / 1e6)

    async def reset_quota(self, counter: str) -> None:
        await self._redis(self._redis.client.delete(f"{self._redis.prefix}quota:{counter}"))


@dataclass
class RedisStorage(Storage):
    """Records and limiter on one Redis connection pool, which close() closes."""
    connection: RedisConnection | None = None
    shared: bool = True

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.client.aclose()


def open_redis_storage(url: str, namespaces: Iterable[str], *, clock: Clock | None = None) -> Storage:
    """Storage in the Redis at URL (redis://, rediss:// for TLS, unix://). Connects on first use."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
    rest = urlunsplit(parts._replace(query=urlencode([(n, v) for n, v in query if n != "prefix"])))
    # URL settings win over these defaults (redis-py's rule).
    client = aioredis.Redis.from_url(
        rest, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1),  # once at once: a connection Redis closed is replaced, an outage is not waited out
        client_name=f"asyncgate-{os.getpid()}")
    where = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=""))
    connection = RedisConnection(client, prefix, where)
    return RedisStorage(where, {name: RedisRecords(connection, name) for name in namespaces},
                        RedisLimiter(connection, clock), connection=connection)
