"""Rate limits and quotas (issue 6), counted per request that passed authentication.

Rate limits are exact sliding windows: for a limit of RATE per PER seconds, a request passes when fewer than
RATE requests passed in the PER seconds before it (a sliding log of the timestamps of the requests that
passed; refused requests are not logged, so a client that keeps retrying is let in again as soon as the
oldest logged request leaves the window). A request may be subject to several limits at once (the API's and
its key's): it passes only when every one has room, and then it is logged in every one — all or nothing, so
a request refused by one limit does not consume another.

Quotas (Tyk's `quota_max` per `quota_renewal_rate` seconds): a counter that starts with the first request and
renews QUOTA_RENEWAL_RATE seconds later; `quota_max` -1 or 0 means unlimited, as in Tyk.

Every Verdict names the counter with the least room left (or the one that refused) with its limit, what
remains and when it resets: the gateway answers with them as X-RateLimit-Limit / -Remaining / -Reset.

Counters live behind the Limiter protocol: MemoryLimiter is the embedded default (one process);
storage/redis.py's RedisLimiter (a Lua script doing the same check-then-log atomically) takes its place when
several gateway processes share one Redis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine._fast import window
from engine._fast.protocols import SlidingWindow

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """RATE requests in any PER seconds, counted under COUNTER (e.g. "api:orders", "key:<id>")."""
    counter: str
    rate: float
    per: float

    @property
    def active(self) -> bool:
        return self.rate > 0 and self.per > 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until a request could pass (when refused)
    counter: str = ""  # the counter that refused (or, when allowed, the one with the least room left)
    remaining: int = 0  # what is left of that counter's limit or quota after this request
    limit: float = 0.0  # that counter's limit (rate, or quota_max); 0 when no limit applied
    reset: float = 0.0  # seconds until that counter has room again (rate: oldest entry leaves; quota: renewal)

    @property
    def retry_after_header(self) -> int:
        """Retry-After as HTTP writes it: whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.retry_after - 1e-9))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """X-RateLimit-Limit, -Remaining and -Reset (whole seconds until the counter has room again, rounded
        up) of this verdict's counter; none when no limit applied."""
        if self.limit <= 0:
            return []
        return [(b"x-ratelimit-limit", f"{self.limit:g}".encode()),
                (b"x-ratelimit-remaining", str(max(0, self.remaining)).encode()),
                (b"x-ratelimit-reset", str(max(0, math.ceil(self.reset - 1e-9))).encode())]


ALLOWED = Verdict(True)


def quota_counter(key_id: str) -> str:
    """The counter of a key's quota (the management API resets it)."""
    return f"quota:{key_id}"


class Limiter(Protocol):
    """Where rate-limit logs and quota counters are kept. Every method may do I/O and must be atomic."""

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        """Log one request in every limit when all of them have room; otherwise log nothing and refuse."""
        ...

    async def consume_quota(self, counter: str, maximum: int, renewal: float) -> Verdict:
        """Take one request from a quota of MAXIMUM per RENEWAL seconds (maximum <= 0: unlimited)."""
        ...

    async def reset_quota(self, counter: str) -> None: ...


class MemoryLimiter:
    """The embedded limiter: sliding logs and quota counters in this process's memory."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._logs: dict[str, SlidingWindow] = {}
        self._quotas: dict[str, tuple[int, float]] = {}  # counter → (used, renews at)

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        return self.hit_now(limits)

    def hit_now(self, limits: Sequence[Limit]) -> Verdict:
        now = self.clock()
        active = [limit for limit in limits if limit.active]
        refused: Verdict | None = None
        for limit in active:
            log = self._logs.get(limit.counter)
            if log is None:
                continue
            if not log.expire(now - limit.per):  # what left the window (now - per, now]
                del self._logs[limit.counter]
                continue
            if len(log) >= limit.rate:
                # Room again when the entry that makes the log full leaves the window.
                wait = log.until_leaves(len(log) - math.ceil(limit.rate), limit.per, now)
                if refused is None or wait > refused.retry_after:
                    refused = Verdict(False, wait, limit.counter, 0, limit.rate, wait)
        if refused is not None:
            return refused
        tightest = ALLOWED
        for limit in active:
            log = self._logs.get(limit.counter)
            if log is None:
                log = self._logs[limit.counter] = window.SlidingWindow(math.ceil(limit.rate))
            log.add(now)
            remaining = int(limit.rate) - len(log)
            if tightest is ALLOWED or remaining < tightest.remaining:
                tightest = Verdict(True, 0.0, limit.counter, remaining, limit.rate, log.until_leaves(0, limit.per, now))
        return tightest

    async def consume_quota(self, counter: str, maximum: int, renewal: float) -> Verdict:
        if maximum <= 0:
            return ALLOWED
        now = self.clock()
        used, renews = self._quotas.get(counter, (0, 0.0))
        if renewal > 0 and now >= renews:
            used, renews = 0, now + renewal
        elif renewal <= 0:
            renews = math.inf  # never renews
        if used >= maximum:
            self._quotas[counter] = (used, renews)
            wait = renews - now if renews != math.inf else 0.0
            return Verdict(False, wait, counter, 0, maximum, wait)
        self._quotas[counter] = (used + 1, renews)
        return Verdict(True, 0.0, counter, maximum - used - 1, maximum, renews - now if renews != math.inf else 0.0)

    async def reset_quota(self, counter: str) -> None:
        self._quotas.pop(counter, None)

