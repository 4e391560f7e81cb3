"""In-process pipes between streams (`inproc` inputs and outputs), with acks carried across."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..component import AckFn
from ..message import Batch

if TYPE_CHECKING:
    from .stream import InlineDelivery


class InprocHub:
    def __init__(self) -> None:
        self._pipes: dict[str, asyncio.Queue[tuple[Batch, AckFn]]] = {}
        self._inline: dict[str, InlineDelivery] = {}

    def pipe(self, name: str) -> "asyncio.Queue[tuple[Batch, AckFn]]":
        pipe = self._pipes.get(name)
        if pipe is None:
            # One batch in hand at a time: a slow reader slows the writer.
            pipe = self._pipes[name] = asyncio.Queue(maxsize=1)
        return pipe

    def lend(self, name: str, delivery: InlineDelivery) -> None:
        """The reading stream of NAME takes batches straight to its output while DELIVERY is ready."""
        self._inline[name] = delivery

    def take_back(self, name: str, delivery: InlineDelivery) -> None:
        if self._inline.get(name) is delivery:
            del self._inline[name]

    async def send(self, name: str, batch: Batch) -> None:
        """Hand a batch to the reader of NAME and wait until it was delivered downstream."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[BaseException | None] = loop.create_future()

        async def ack(error: BaseException | None) -> None:
            if not outcome.done():
                outcome.set_result(error)

        pipe = self.pipe(name)
        inline = self._inline.get(name)
        # A batch still in the pipe (its reader woken but not yet run keeps it there) goes first: order.
        if inline is not None and pipe.empty() and inline.ready():
            inline(batch, ack)  # when the reader's output does not wait, acked before this returns
        else:
            await pipe.put((batch, ack))
        error = await outcome
        if error is not None:
            raise error

    async def receive(self, name: str) -> tuple[Batch, AckFn]:
        return await self.pipe(name).get()
