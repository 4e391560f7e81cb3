"""The `generate` input: messages made by a Bloblang mapping, at an interval or as fast as they are taken."""

from __future__ import annotations

import asyncio
from typing import Any

from ... import spec as s
from ...component import AckFn, EndOfInput, Input, noop_ack
from ...config.durations import parse_duration
from ...message import Batch, Message
from ...registry import register


def parse_interval(text: str) -> tuple[float, bool]:
    """Seconds between batches and whether the first batch comes at once.

    Bento also takes cron expressions here; `@every D` is the one cron form we support
    (a fixed period whose first tick comes after D, as cron schedules do)."""
    text = text.strip()
    if not text:
        return 0.0, True
    if text.startswith("@every "):
        try:
            return parse_duration(text[len("@every "):]), False
        except ValueError:
            pass
    try:
        return parse_duration(text), True
    except ValueError as exc:
        if text.startswith(("@", "TZ=")) or " " in text or "*" in text:
            raise ValueError(f'interval "{text}": cron schedules are not supported; use a duration '
                             f'such as "5m" or "@every 5m"') from None
        raise ValueError(f"interval: {exc}") from None


class GenerateInput(Input):
    reads_inline = True

    def __init__(self, conf: dict[str, Any]) -> None:
        from ...bloblang import ParseError, compile_mapping

        try:
            self.mapping = compile_mapping(conf["mapping"])
        except ParseError as exc:
            raise ValueError(f"mapping: line {exc.line} column {exc.column}: {exc.explanation}") from None
        self.interval, self._first_free = parse_interval(conf["interval"])
        self.batch_size: int = conf["batch_size"]
        if self.batch_size < 1:
            raise ValueError(f"batch_size: must be at least 1, got {self.batch_size}")
        count: int = conf["count"]
        self.limited = count > 0
        self.remaining = count
        # With auto_replay_nacks off we settle nacks ourselves, by dropping (Bento semantics).
        self.supports_nack = not conf["auto_replay_nacks"]
        self._next: float | None = None

    async def _wait_tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next is None:
            self._next = now if self._first_free else now + self.interval
        if self._next > now:
            await asyncio.sleep(self._next - now)
            now = loop.time()
        # A steady rate like a ticker: late ticks are not made up for in a burst.
        self._next = max(self._next + self.interval, now)

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            if self.limited and self.remaining <= 0:
                raise EndOfInput
            size = min(self.batch_size, self.remaining) if self.limited else self.batch_size
            if self.interval > 0:
                await self._wait_tick()
            # Otherwise as fast as taken, without waiting: the stream's reader passes through the event loop
            # at least every YIELD_EVERY (engine/runtime/stream.py) when nothing it calls waits.
            batch: Batch = []
            mapping = self.mapping
            for index in range(size):
                msg = mapping.apply(Message(b""), batch, index)  # a MappingError fails this read
                if msg is not None:
                    batch.append(msg)
            if self.limited:
                self.remaining -= len(batch)
            if batch:
                return batch, self._settle if self.supports_nack else noop_ack

    async def _settle(self, error: BaseException | None) -> None:
        if error is not None:
            self.log.warning("generated message(s) not delivered and dropped (auto_replay_nacks is false): %s",
                             error)


register(s.ComponentSpec(
    name="generate", kind="input", category="utility",
    summary="Generates messages with a Bloblang mapping, at an interval or as fast as they are consumed.",
    description="The mapping runs against an empty message. With `count` above 0 the input ends after that "
                "many messages (messages the mapping deletes are not counted), and `asyncgate run` exits once "
                "they are delivered.\n\nThe first batch of a duration `interval` is generated at once, the "
                "next ones each `interval` after. Cron expressions are not supported, apart from `@every D`.",
    config=s.obj(
        "generate", "",
        s.string("mapping", "A Bloblang mapping that makes each message.", bloblang="mapping",
                 examples=('root = "hello world"', 'root = {"test":"message","id":uuid_v4()}')),
        s.string("interval", 'How often a batch is generated, as a duration. Empty (or "0s") generates '
                 "as fast as downstream takes them.", "1s", examples=("5s", "1m", "@every 1s", "")),
        s.integer("count", "How many messages to generate before the input ends; 0 means without end.", 0),
        s.integer("batch_size", "How many messages each generated batch holds.", 1),
        s.boolean("auto_replay_nacks", "Re-send messages the output could not deliver, until they are "
                  "delivered. When false such messages are dropped.", True),
    ),
    factory=lambda conf, ctx: GenerateInput(conf),
    examples=('input:\n  generate:\n    count: 100\n    interval: ""\n    mapping: \'root = {"id": count("ids")}\'',),
))
