"""Running configs inside a test: feed an `inproc` input, collect an `inproc` output."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.config.loader import LoadedConfig, load_text
from engine.message import Message
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager


def load(yaml_text: str, environ: dict[str, str] | None = None) -> LoadedConfig:
    return load_text(yaml_text, "test.yaml", environ or {})


async def collect(hub: InprocHub, name: str, count: int, fail: int = 0) -> list[Message]:
    """Take COUNT messages from the inproc pipe NAME, acking each batch (nacking the first FAIL batches)."""
    got: list[Message] = []
    while len(got) < count:
        batch, ack = await hub.receive(name)
        if fail > 0:
            fail -= 1
            await ack(RuntimeError("nacked by the test"))
            continue
        got.extend(batch)
        await ack(None)
    return got


async def run_config(yaml_text: str, *, feed: list[Any] | None = None, expect: int = 0,
                     feed_pipe: str = "in", collect_pipe: str = "out", stop_after: bool = True,
                     environ: dict[str, str] | None = None) -> list[Message]:
    """Run a config whose input is `inproc: in` (fed FEED) and/or whose output is `inproc: out`.

    Returns the EXPECT messages collected from `out`, then stops the manager and waits for it."""
    manager = Manager(load(yaml_text, environ))
    manager.build()
    running = asyncio.ensure_future(manager.run())
    for item in feed or []:
        payload = item if isinstance(item, Message) else Message(item if isinstance(item, bytes) else str(item).encode())
        feeder = asyncio.ensure_future(manager.hub.send(feed_pipe, [payload]))
        if not expect:
            await feeder
    got = await collect(manager.hub, collect_pipe, expect) if expect else []
    if stop_after:
        manager.stop()
    await running
    return got
