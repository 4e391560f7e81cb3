"""Analytics: a record per request and per subscription (traffic.py `Exchange.record`), kept in a bounded ring in
memory (`analytics.capacity`, the oldest dropped first), readable at `GET /_admin/analytics`, and, with
`analytics.output` set, also sent to that output (any engine output: kafka, file, http_client, ...).

Records go to the output through an internal stream (an `inproc` input feeding the configured output) from a
bounded queue: when the output falls behind, new records are dropped and counted (`dropped`, and the metric
asyncgate.analytics.dropped) rather than making requests wait.

A record: timestamp (when the request or connection ended, Unix seconds; records are kept in that order), kind (request, subscription, connection), api_id, api_name, key_id and
key_alias (never the key nor its hash), method, path (without the query string, which may hold a key), protocol,
stream, status, rejection (why it was refused before any stream, else null), client_ip, user_agent, bytes_in,
bytes_out, messages (delivered to a subscriber), duration (seconds).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from datetime import datetime, timezone
from typing import Any, Iterable

import orjson

from engine.config.loader import LoadedConfig, StreamConfig
from engine.config.validate import ComponentConfig
from engine.message import Message
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager

PIPE = "analytics"
QUEUE_LIMIT = 10_000  # records waiting for the output before new ones are dropped
BATCH_LIMIT = 500  # records sent to the output at once
DEFAULT_LIMIT = 100
DRAIN_TIMEOUT = 5.0

Record = dict[str, Any]


class QueryError(ValueError):
    """A query parameter that is not valid; the message names it."""


class Analytics:
    def __init__(self, capacity: int, output: ComponentConfig | None, logger: logging.Logger) -> None:
        self.capacity = capacity
        self.ring: collections.deque[Record] = collections.deque(maxlen=capacity)
        self.output = AnalyticsOutput(output, logger) if output is not None else None

    def record(self, record: Record) -> None:
        self.ring.append(record)
        if self.output is not None:
            self.output.offer(record)

    def query(self, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """The records matching the query parameters `api_id`, `since` (Unix seconds or an ISO 8601 time; only
        records after it) and `limit` (default 100): the oldest `limit` after `since` when it is given (so a reader
        paging forward misses nothing), else the newest `limit`; oldest first either way. Raises QueryError."""
        api_id, since, limit = None, None, DEFAULT_LIMIT
        for name, value in params:
            if name == "api_id":
                api_id = value
            elif name == "since":
                since = _time(value)
            elif name == "limit":
                if not value.isdigit() or not 1 <= int(value) <= self.capacity:
                    raise QueryError(f"limit: {value!r} is not a whole number from 1 to {self.capacity}")
                limit = int(value)
            else:
                raise QueryError(f"unknown query parameter {name!r}; expected api_id, since, limit")
        found = [r for r in self.ring if (api_id is None or r["api_id"] == api_id)
                 and (since is None or r["timestamp"] > since)]
        chosen = found[:limit] if since is not None else found[-limit:]
        return {"records": chosen, "more": len(found) > len(chosen), "capacity": self.capacity,
                "output_dropped": self.output.dropped if self.output is not None else 0}

    async def start(self) -> None:
        if self.output is not None:
            self.output.start()

    async def stop(self) -> None:
        if self.output is not None:
            await self.output.stop()


class AnalyticsOutput:
    """The internal stream `inproc: analytics` → the configured output, fed from a bounded queue."""

    def __init__(self, output: ComponentConfig, logger: logging.Logger) -> None:
        self.log = logger.getChild("analytics")
        self.hub = InprocHub()  # its own: no stream of an API can read or write this pipe
        source = ComponentConfig("input", "inproc", PIPE, "analytics.input.inproc")
        config = LoadedConfig(file="<gateway config>", shape="stream",
                              streams={"analytics": StreamConfig("analytics", source, [], output)})
        self.manager = Manager(config, self.log, hub=self.hub)
        self.manager.build()  # raises ComponentError naming the output block
        self.queue: collections.deque[Record] = collections.deque()
        self.dropped = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._running: asyncio.Task[bool] | None = None
        self._pump: asyncio.Task[None] | None = None

    def offer(self, record: Record) -> None:
        if len(self.queue) >= QUEUE_LIMIT:
            self.dropped += 1
            return
        self.queue.append(record)
        self._wake.set()

    def start(self) -> None:
        self._running = asyncio.ensure_future(self.manager.run())
        self._running.add_done_callback(self._ended)
        self._pump = asyncio.ensure_future(self._send())

    def _ended(self, task: "asyncio.Task[bool]") -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("the analytics output stopped: %s", task.exception())

    async def _send(self) -> None:
        queue = self.queue
        while True:
            if not queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            count = min(len(queue), BATCH_LIMIT)
            batch = [Message(orjson.dumps(queue.popleft())) for _ in range(count)]
            try:
                await self.hub.send(PIPE, batch)
            except Exception as exc:  # the output failed these records: counted, not retried
                self.failed += count
                self.log.error("analytics output: %d record(s) not delivered: %s", count, exc)

    async def stop(self) -> None:
        """Send what is queued (for a few seconds at most), then stop the stream."""
        self._closing = True
        self._wake.set()
        if self._pump is not None:
            try:
                await asyncio.wait_for(self._pump, DRAIN_TIMEOUT)
            except asyncio.TimeoutError:
                self.log.warning("analytics output: %d record(s) not sent at shutdown", len(self.queue))
        if self._running is not None and not self._running.done():
            self.manager.stop()
            await asyncio.gather(self._running, return_exceptions=True)


def _time(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise QueryError(f"since: {value!r} is not a time")
        return seconds
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"since: {value!r} is neither Unix seconds nor an ISO 8601 time "
                         "(e.g. 2024-05-01T12:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
