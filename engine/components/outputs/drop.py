"""The `drop` output: accepts and discards everything (acks at once)."""

from __future__ import annotations

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register


class DropOutput(Output):
    takes_lines = True
    # Discarding has no order to keep and nothing to wait for: any number of writes at once (the runner's
    # max_in_flight otherwise defaults to one).
    max_in_flight = 1024
    writes_inline = True

    async def write(self, batch: Batch) -> None:
        return None


register(s.ComponentSpec(
    name="drop", kind="output", category="utility",
    summary="Discards every message, acknowledging it as delivered.",
    config=s.obj("drop", "", default={}, allow_scalar=True),
    factory=lambda conf, ctx: DropOutput(),
    examples=("output:\n  drop: {}",),
))
