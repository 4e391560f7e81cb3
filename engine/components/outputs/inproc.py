"""The `inproc` output: hands batches to the `inproc` input of the same name, in this process."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register


class InprocOutput(Output):
    writes_inline = True

    def __init__(self, name: str, ctx: Any) -> None:
        self.name = name
        self.hub = ctx.hub

    async def write(self, batch: Batch) -> None:
        await self.hub.send(self.name, batch)


register(s.ComponentSpec(
    name="inproc", kind="output", category="utility",
    summary="Sends to the `inproc` input of the same name in another stream of this process.",
    description="A write completes when the reading stream has delivered the batch, and fails if it could not.",
    config=s.string("inproc", "The pipe's name.", examples=("buffered_events",)),
    factory=lambda conf, ctx: InprocOutput(conf, ctx),
    examples=("output:\n  inproc: enriched",),
))
