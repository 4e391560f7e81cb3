"""AsyncGate: kafka input (the topic's partitions, assigned explicitly) → drop output."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

from ..competitor import engine_info, main

CONFIG = """
input:
  kafka:
    addresses: [{address}]
    topics: ["{topic}:0-{last}"]
    consumer_group: {group}
output:
  drop: {{}}
"""


def _config() -> str:
    return CONFIG.format(address=os.environ["ASYNCGATE_BENCH_KAFKA_ADDRESS"],
                         topic=os.environ["ASYNCGATE_BENCH_KAFKA_TOPIC"],
                         last=int(os.environ["ASYNCGATE_BENCH_KAFKA_PARTITIONS"]) - 1,
                         group=f"bench-{uuid.uuid4().hex[:8]}")


def run_once(_path: str) -> int:
    """Run the stream until it has read the whole topic (a Kafka input never ends by itself), then
    stop it (everything read is delivered before it returns)."""
    import uvloop

    from engine.config.loader import load_text
    from engine.runtime.gc_tuning import tune_for_throughput
    from engine.runtime.manager import Manager

    total = int(os.environ["ASYNCGATE_BENCH_KAFKA_MESSAGES"])
    manager = Manager(load_text(_config(), "benchmark.yaml", {}), logging.getLogger("asyncgate.bench"))
    manager.build()
    tune_for_throughput()
    streams = list(manager.streams.values())

    async def until_read() -> None:
        running = asyncio.ensure_future(manager.run())
        while sum(s.read_messages for s in streams) < total and not running.done():
            await asyncio.sleep(0.001)
        manager.stop()
        if not await running:
            raise RuntimeError("the stream did not deliver everything")

    uvloop.run(until_read())
    return sum(s.read_messages for s in streams)


def _warm_up() -> None:
    """Import and register everything once, outside the timing (as the baseline's imports are)."""
    from engine.config.loader import load_text
    from engine.runtime.manager import Manager

    Manager(load_text(_config(), "benchmark.yaml", {})).build()


if __name__ == "__main__":
    _warm_up()
    main(run_once, engine_info)
