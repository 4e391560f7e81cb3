"""Faust (faust-streaming): an App with one agent iterating the preloaded topic's stream (raw values,
consumer group from the earliest offset), run by a Worker. Timed from the worker's start to the last
message the agent receives: Faust's own shutdown (its service tree, a 1 s sentinel) is not ingest."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import faust

from benchmarks.competitor import main
from benchmarks.peers.settings import GROUP


def run_once(_path: str) -> tuple[int, float]:
    total = int(os.environ["ASYNCGATE_BENCH_KAFKA_MESSAGES"])
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = faust.App(f"faust-{uuid.uuid4().hex[:8]}", broker=f"kafka://{os.environ['ASYNCGATE_BENCH_KAFKA_ADDRESS']}",
                    store="memory://", web_enabled=False, topic_disable_leader=True,
                    consumer_auto_offset_reset="earliest", value_serializer="raw",
                    broker_session_timeout=GROUP["session.timeout.ms"] / 1000,
                    broker_heartbeat_interval=GROUP["heartbeat.interval.ms"] / 1000)
    topic = app.topic(os.environ["ASYNCGATE_BENCH_KAFKA_TOPIC"], value_serializer="raw")
    received = 0
    finished = 0.0

    @app.agent(topic)
    async def drop(stream: faust.StreamT) -> None:
        nonlocal received, finished
        async for _value in stream:
            received += 1
            if received == total:
                finished = time.perf_counter()
                # from outside the agent: stopping waits for the message being processed to be acked
                asyncio.ensure_future(worker.stop())

    # stdout carries the result line: the worker's console output (a progress spinner) goes to stderr
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, stdout=sys.stderr)
    started = time.perf_counter()
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    if received != total:
        raise RuntimeError(f"the agent received {received} of {total} messages")
    return received, finished - started


if __name__ == "__main__":
    main(run_once)
