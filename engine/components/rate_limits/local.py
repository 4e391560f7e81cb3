"""The `local` rate limit: at most `count` accesses per `interval`, shared by label within this process."""

from __future__ import annotations

import time
from typing import Any, Callable

from ... import spec as s
from ...component import Component
from ...registry import register


class LocalRateLimit(Component):
    """Bento's fixed-window token bucket.

    The bucket holds `count` tokens. Each `access()` takes one; when it is empty the caller is told how long
    until the current window (which began at the last refill) ends. The first access after the window has
    ended refills the bucket and starts a new window. The first window begins at the first access, so a
    limiter built long before traffic arrives does not hand out a stale half-spent window.
    """

    def __init__(self, count: int, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        if count <= 0:
            raise ValueError(f"count must be larger than zero, got {count}")
        if interval < 0:
            raise ValueError("interval must not be negative")
        self.size = count
        self.period = interval
        self.bucket = count
        self.clock = clock
        self.last_refresh: float | None = None

    def try_access(self) -> float:
        """Take a token if one is free: 0.0 when granted, else the seconds until the window ends."""
        now = self.clock()
        if self.last_refresh is None:
            self.last_refresh = now
        self.bucket -= 1
        if self.bucket < 0:
            self.bucket = 0
            remaining = self.period - (now - self.last_refresh)
            if remaining > 0:
                return remaining
            self.bucket = self.size - 1
            self.last_refresh = now
        return 0.0

    async def access(self) -> float:
        """Seconds the caller should wait before trying again; 0.0 when the access is granted.

        A caller that is told to wait has not used a token: it waits and calls `access()` again.
        """
        return self.try_access()

    async def close(self) -> None:
        return None


def _factory(conf: dict[str, Any], ctx: Any) -> LocalRateLimit:
    return LocalRateLimit(conf["count"], conf["interval"])


register(s.ComponentSpec(
    name="local", kind="rate_limit", category="utility",
    summary="At most `count` accesses per `interval`, shared by every component in this process that uses it.",
    description=(
        "A simple X-every-Y rate limit (a fixed window): up to `count` accesses are granted at once, then "
        "callers wait until `interval` has passed since the window began, when the bucket refills. It can be "
        "shared by any number of components of this process (for example several `rate_limit` processors), "
        "but not across processes: for limits that hold across gateway nodes use a Redis-backed limit.\n\n"
        "Declare it under `rate_limit_resources` with a label, and refer to that label from a `rate_limit` "
        "processor's `resource` field."
    ),
    config=s.obj(
        "local", "",
        s.integer("count", "The maximum number of accesses allowed per interval (must be larger than zero).",
                  1000, examples=(100,)),
        s.duration("interval", "The time window the count applies to.", "1s", examples=("1s", "100ms", "1m")),
        default={}, allow_scalar=True,
    ),
    factory=_factory,
    examples=(
        "rate_limit_resources:\n  - label: searches\n    local:\n      count: 500\n      interval: 1s\n\n"
        "pipeline:\n  processors:\n    - rate_limit:\n        resource: searches",
    ),
))
