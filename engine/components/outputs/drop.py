"""The `drop` output: accepts and discards everything (acks at once)."""

from __future__ import annotations

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register


class DropOutput(Output):
    takes_lines = True

    async def write(self, batch: Batch) -> None:
        return None


register(s.ComponentSpec(
    name="drop", kind="output", category="utility",
    summary="Discards every message, acknowledging it as delivered.",
    config=s.obj("drop", "", default={}, allow_scalar=True),
    factory=lambda conf, ctx: DropOutput(),
    examples=("output:\n  drop: {}",),
))
