"""A test-only stand-in for Kafka: `memkafka` input and output with Kafka's field names and its consumer-group
semantics (every group reads the whole topic from the oldest message; members of one group share it), in
memory. `installed()` registers them for one test (and empties every topic), then unregisters them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Iterator

from engine import registry
from engine import spec as s
from engine.component import AckFn, Input, Output, noop_ack
from engine.message import Batch, Message

TOPICS: dict[str, list[bytes]] = {}
OFFSETS: dict[tuple[str, str], int] = {}  # (group, topic) → next offset
_WAITERS: list[asyncio.Future[None]] = []


def reset() -> None:
    TOPICS.clear()
    OFFSETS.clear()
    _WAITERS.clear()


def _wake() -> None:
    while _WAITERS:
        waiter = _WAITERS.pop()
        if not waiter.done():
            waiter.set_result(None)


class MemKafkaInput(Input):
    supports_nack = False

    def __init__(self, conf: dict[str, Any]) -> None:
        self.topics: list[str] = conf["topics"]
        self.group: str = conf["consumer_group"]
        self.addresses: list[str] = conf["addresses"]
        self.connects = 0

    async def connect(self) -> None:
        self.connects += 1
        if "down:9092" in self.addresses:  # a broker that is not there
            raise ConnectionRefusedError("connection refused by down:9092")

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            for topic in self.topics:
                log = TOPICS.setdefault(topic, [])
                offset = OFFSETS.get((self.group, topic), 0)
                if offset < len(log):
                    OFFSETS[(self.group, topic)] = offset + 1
                    return [Message(log[offset], {"kafka_topic": topic})], noop_ack
            waiter = asyncio.get_running_loop().create_future()
            _WAITERS.append(waiter)
            await waiter


class MemKafkaOutput(Output):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.topic: str = conf["topic"]

    async def write(self, batch: Batch) -> None:
        TOPICS.setdefault(self.topic, []).extend(m.raw for m in batch)
        _wake()


SPECS = [s.ComponentSpec(
    name="memkafka", kind="input", summary="Test-only in-memory Kafka.",
    config=s.obj("memkafka", "", s.Field("addresses", "string", "", default=[], kind="list"),
                 s.Field("topics", "string", "", kind="list"), s.string("consumer_group", "", "")),
    factory=lambda conf, ctx: MemKafkaInput(conf),
), s.ComponentSpec(
    name="memkafka", kind="output", summary="Test-only in-memory Kafka.",
    config=s.obj("memkafka", "", s.Field("addresses", "string", "", default=[], kind="list"), s.string("topic", "")),
    factory=lambda conf, ctx: MemKafkaOutput(conf),
)]


@contextlib.contextmanager
def installed() -> Iterator[None]:
    reset()
    registry.load_builtin_components()
    for spec in SPECS:
        registry.register(spec)
    try:
        yield
    finally:
        for spec in SPECS:
            registry._registry[spec.kind].pop(spec.name, None)
        reset()
