"""The `broker` input: fan-in of several inputs, read concurrently into one stream."""

from __future__ import annotations

import asyncio
from typing import Any

from ... import spec as s
from ...component import AckFn, EndOfInput, Input
from ...message import Batch
from ...registry import register

READ_RETRY_MAX = 5.0
_ENDED: Any = object()


class BrokerInput(Input):
    # Each child is built by ctx.build_input and so already redelivers its own nacks;
    # an ack or nack goes straight back to the child that produced the batch.
    supports_nack = True

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        copies: int = conf["copies"]
        if copies < 1:
            raise ValueError(f"copies: must be at least 1, got {copies}")
        configs = [cc for cc in conf["inputs"] if cc is not None]
        if not configs:
            raise ValueError("inputs: at least one input is required")
        self.children: list[Input] = [ctx.build_input(cc) for _ in range(copies) for cc in configs]
        # Bounded: a child whose batches are not taken waits, like a lone input would.
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=len(self.children))
        self._readers: list[asyncio.Task[None]] = []
        self._running = len(self.children)

    async def connect(self) -> None:
        await asyncio.gather(*(child.connect() for child in self.children))

    async def read(self) -> tuple[Batch, AckFn]:
        if not self._readers and self._running:
            self._readers = [asyncio.ensure_future(self._pump(child)) for child in self.children]
        while self._running:
            item = await self._queue.get()
            if item is _ENDED:
                self._running -= 1
                continue
            return item
        raise EndOfInput

    async def _pump(self, child: Input) -> None:
        """Read one child until it ends, handing its batches (and idle hints) on with its own acks."""
        put = self._queue.put
        failures = 0
        while True:
            try:
                item = await child.read()
            except EndOfInput:
                await put(_ENDED)
                return
            except Exception as exc:  # noqa: BLE001 - a child's read failure is retried, as for any input
                failures += 1
                delay = min(0.05 * 2 ** failures, READ_RETRY_MAX)
                self.log.error("%s: read failed (retrying in %.2fs): %s", child.where, delay, exc)
                await asyncio.sleep(delay)
                continue
            failures = 0
            await put(item)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await asyncio.gather(*(child.close() for child in self.children), return_exceptions=True)


register(s.ComponentSpec(
    name="broker", kind="input", category="utility",
    summary="Reads several inputs at once and merges their messages into one stream.",
    description="Every child input is read concurrently; a batch's acknowledgement goes back to the child it "
                "came from, so each keeps its own delivery guarantees. The broker ends once every child has "
                "ended. `copies` creates the whole list of inputs that many times.",
    config=s.obj(
        "broker", "",
        s.integer("copies", "How many times each of the inputs is created.", 1, advanced=True),
        s.Field("inputs", "input", "The inputs to read from.", kind="list"),
        s.batching_field(),
    ),
    factory=lambda conf, ctx: BrokerInput(conf, ctx),
    examples=(("input:\n  broker:\n    inputs:\n      - file: { paths: [ ./a.jsonl ] }\n"
               "      - stdin: {}"),),
))
