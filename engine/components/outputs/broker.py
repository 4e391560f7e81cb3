"""The `broker` output: routes batches to several child outputs with a brokering pattern."""

from __future__ import annotations

import asyncio
from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register
from ._delivery import Failed, Retrier, capacity, raise_failed, submit

PATTERNS = ("fan_out", "fan_out_fail_fast", "fan_out_sequential", "fan_out_sequential_fail_fast",
            "round_robin", "greedy")


class BrokerOutput(Output):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.pattern: str = conf["pattern"]
        if self.pattern not in PATTERNS:  # validation already checks; direct construction too
            raise ValueError(f'unknown pattern "{self.pattern}"; one of: {", ".join(PATTERNS)}')
        copies = conf["copies"]
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        if not conf["outputs"]:
            raise ValueError("a broker needs at least one output in `outputs`")
        # Bento order: the whole list once per copy.
        self.children = [ctx.build_output(cc) for _ in range(copies) for cc in conf["outputs"]]
        self.fail_fast = self.pattern.endswith("_fail_fast")
        self.caps = [capacity(c) for c in self.children]
        self._next = 0
        self._busy = [0] * len(self.children)
        self._freed = asyncio.Event()
        self._retrier: Retrier | None = None
        self._write = {
            "fan_out": self._fan_out, "fan_out_fail_fast": self._fan_out,
            "fan_out_sequential": self._fan_out_sequential,
            "fan_out_sequential_fail_fast": self._fan_out_sequential,
            "round_robin": self._round_robin, "greedy": self._greedy,
        }[self.pattern]

    @property
    def max_in_flight(self) -> int:
        """Writes under way at once: as many as the busiest child can take when every child gets
        every batch, as many as all of them together when each batch goes to one child."""
        if self.pattern.startswith("fan_out"):
            return max(self.caps)
        return sum(self.caps)

    @property
    def retrier(self) -> Retrier:
        if self._retrier is None:
            self._retrier = Retrier(self.where, self.log)
        return self._retrier

    async def connect(self) -> None:
        for child in self.children:
            await child.connect()

    async def write(self, batch: Batch) -> None:
        await self._write(batch)

    async def flush_children(self) -> None:
        for child in self.children:
            await child.flush()

    def stopping(self) -> None:
        for child in self.children:
            child.stopping()

    async def close(self) -> None:
        self.retrier.closing.set()
        for child in self.children:
            await child.close(0)

    # -- patterns -----------------------------------------------------------
    async def _fan_out(self, batch: Batch) -> None:
        positions = list(range(len(batch)))
        handed = []
        # Each child gets its own copies, so one child's processors cannot touch another's.
        # Hand-offs happen in order (a child applying backpressure holds up the rest, as in Bento).
        for child in self.children:
            sent = [m.copy() for m in batch]
            handed.append((child, sent, await submit(child, sent)))
        results = await asyncio.gather(*(
            self.retrier.settle(child, batch, positions, sent, outcome, retry=not self.fail_fast)
            for child, sent, outcome in handed))
        failed: Failed = {}
        first: BaseException | None = None
        for child_failed, error in results:
            failed.update(child_failed)
            first = first or error
        if first is not None:
            raise_failed(batch, failed, first)

    async def _fan_out_sequential(self, batch: Batch) -> None:
        failed: Failed = {}
        first: BaseException | None = None
        positions = list(range(len(batch)))
        for child in self.children:
            # A message that a child failed is not offered to the children after it.
            positions = [p for p in positions if p not in failed]
            if not positions:
                break
            sent = [batch[p].copy() for p in positions]
            child_failed, error = await self.retrier.settle(
                child, batch, positions, sent, await submit(child, sent), retry=not self.fail_fast)
            failed.update(child_failed)
            first = first or error
        if first is not None:
            raise_failed(batch, failed, first)

    async def _round_robin(self, batch: Batch) -> None:
        child = self.children[self._next]
        self._next = (self._next + 1) % len(self.children)
        # A failure is a nack: the input redelivers, and the batch goes to the next child then.
        await child.write(batch)

    async def _greedy(self, batch: Batch) -> None:
        while (i := self._first_with_room()) is None:
            self._freed.clear()
            await self._freed.wait()
        self._busy[i] += 1
        try:
            await self.children[i].write(batch)
        finally:
            self._busy[i] -= 1
            self._freed.set()

    def _first_with_room(self) -> int | None:
        for i, busy in enumerate(self._busy):
            if busy < self.caps[i]:
                return i
        return None


register(s.ComponentSpec(
    name="broker", kind="output", category="utility",
    summary="Routes messages to several child outputs using a brokering pattern.",
    description=(
        "Patterns:\n\n"
        "- `fan_out`: every output gets every message (each its own copy, so one output's "
        "processors never affect another's), in parallel. An output that fails is retried on its "
        "own, with backoff, until it succeeds: outputs that already have the message do not get it "
        "again. The write is delivered once every output has it; on shutdown a retry still "
        "pending gives up and the batch is nacked.\n"
        "- `fan_out_fail_fast`: like `fan_out` without retries: a failure nacks the messages that "
        "failed (the input redelivers them to every output, so the others may see duplicates).\n"
        "- `fan_out_sequential`: like `fan_out`, one output after the other, in order: an output "
        "is written to only once the one before it confirmed the message.\n"
        "- `fan_out_sequential_fail_fast`: `fan_out_sequential` without retries; messages an "
        "output failed are not offered to the outputs after it, and are nacked.\n"
        "- `round_robin`: each batch goes to the next output in turn. A failure is a nack and the "
        "input's redelivery goes to the next output.\n"
        "- `greedy`: each batch goes to the first output (in list order) that has room "
        "(`max_in_flight` and batching of its own), so faster outputs take more.\n\n"
        "`batching` batches messages before they are brokered; each child may have its own "
        "`processors`, `batching` and `max_in_flight`. The broker keeps as many writes under "
        "way as its children can take."),
    config=s.obj(
        "broker", "",
        s.integer("copies", "The number of copies of each configured output to spawn.", 1, advanced=True),
        s.string("pattern", "The brokering pattern to use.", "fan_out", options=PATTERNS),
        s.Field("outputs", "output", "A list of child outputs to broker.", kind="list"),
        s.batching_field(),
    ),
    factory=lambda conf, ctx: BrokerOutput(conf, ctx),
    examples=(
        "output:\n  broker:\n    pattern: fan_out\n    outputs:\n      - inproc: audit\n      - stdout: {}",
        "output:\n  broker:\n    pattern: round_robin\n    outputs:\n"
        "      - inproc: worker_a\n      - inproc: worker_b",
    ),
))
