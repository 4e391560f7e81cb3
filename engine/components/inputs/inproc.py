"""The `inproc` input: batches written by an `inproc` output of the same name, in this process."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import AckFn, Input
from ...message import Batch
from ...registry import register
from ...runtime.stream import InlineDelivery


class InprocInput(Input):
    # The writer keeps the batch until we settle it, and fails its own delivery on a nack.
    supports_nack = True

    def __init__(self, name: str, ctx: Any) -> None:
        self.name = name
        self.hub = ctx.hub
        self._lent: InlineDelivery | None = None

    async def read(self) -> tuple[Batch, AckFn]:
        return await self.hub.receive(self.name)

    def deliver_inline(self, delivery: InlineDelivery | None) -> None:
        """What the stream lends while it runs (None once it stops): the writer's batches go through it to this
        stream's output, from the writer's task, when it is ready; through the pipe and `read` otherwise."""
        if delivery is not None:
            self.hub.lend(self.name, delivery)
        elif self._lent is not None:
            self.hub.take_back(self.name, self._lent)
        self._lent = delivery


register(s.ComponentSpec(
    name="inproc", kind="input", category="utility",
    summary="Reads from an `inproc` output of the same name in another stream of this process.",
    description="Acknowledgements travel across: the writing stream's message is delivered only once this "
                "stream's output delivered it.",
    config=s.string("inproc", "The pipe's name.", examples=("buffered_events",)),
    factory=lambda conf, ctx: InprocInput(conf, ctx),
    examples=("input:\n  inproc: enriched",),
))
