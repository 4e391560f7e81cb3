"""In-process pipes between streams (`inproc` inputs and outputs), with acks carried across."""

from __future__ import annotations

import asyncio

from ..component import AckFn
from ..message import Batch


class InprocHub:
    def __init__(self) -> None:
        self._pipes: dict[str, asyncio.Queue[tuple[Batch, AckFn]]] = {}

    def pipe(self, name: str) -> "asyncio.Queue[tuple[Batch, AckFn]]":
        pipe = self._pipes.get(name)
        if pipe is None:
            # One batch in hand at a time: a slow reader slows the writer.
            pipe = self._pipes[name] = asyncio.Queue(maxsize=1)
        return pipe

    async def send(self, name: str, batch: Batch) -> None:
        """Hand a batch to the reader of NAME and wait until it was delivered downstream."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[BaseException | None] = loop.create_future()

        async def ack(error: BaseException | None) -> None:
            if not outcome.done():
                outcome.set_result(error)

        await self.pipe(name).put((batch, ack))
        error = await outcome
        if error is not None:
            raise error

    async def receive(self, name: str) -> tuple[Batch, AckFn]:
        return await self.pipe(name).get()
