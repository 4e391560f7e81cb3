"""What the hand-written competitors share: the payload, the producer loop and its start request.

The payload is the gateway's `root = {"t": timestamp_unix_nano()}`: `{"t":NANOS}`, stamped when the
message is made. `POST /start?count=N&interval=SECONDS&batch=K` starts one producer run: K messages every
INTERVAL seconds (INTERVAL 0: as fast as possible, passing through the event loop at least every
YIELD_EVERY, as the reader of the gateway's stream from a `generate` input does), N in all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs

YIELD_EVERY = 0.001  # seconds: the gateway stream reader's (engine/runtime/stream.py)


def payload() -> bytes:
    return b'{"t":%d}' % time.time_ns()


def parse_start(query: bytes | str) -> tuple[int, float, int]:
    if isinstance(query, bytes):
        query = query.decode()
    q = parse_qs(query)
    return int(q["count"][0]), float(q.get("interval", ["0"])[0]), int(q.get("batch", ["1"])[0])


async def produce(count: int, interval: float, batch: int, deliver: Callable[[bytes], None]) -> None:
    loop = asyncio.get_running_loop()
    if interval <= 0:
        yield_at = loop.time() + YIELD_EVERY
        for _ in range(count):
            deliver(payload())
            if loop.time() >= yield_at:
                await asyncio.sleep(0)
                yield_at = loop.time() + YIELD_EVERY
        await asyncio.sleep(0)
        return
    sent = 0
    next_tick = loop.time()
    while sent < count:
        for _ in range(min(batch, count - sent)):
            deliver(payload())
            sent += 1
        next_tick += interval
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
