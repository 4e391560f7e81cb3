"""The `reject_errored` output: nacks messages flagged errored, sends the others to a child output."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch
from ...registry import register
from ._delivery import Failed, capacity, failures


class RejectErroredOutput(Output):
    def __init__(self, conf: Any, ctx: Any) -> None:
        self.child = ctx.build_output(conf)

    @property
    def max_in_flight(self) -> int:
        return capacity(self.child)

    async def connect(self) -> None:
        await self.child.connect()

    async def flush_children(self) -> None:
        await self.child.flush()

    def stopping(self) -> None:
        self.child.stopping()

    async def close(self) -> None:
        await self.child.close(0)

    async def write(self, batch: Batch) -> None:
        rejected: Failed = {i: f"rejecting due to failed processing: {m.error}"
                            for i, m in enumerate(batch) if m.error is not None}
        if not rejected:
            await self.child.write(batch)
            return
        good = [i for i in range(len(batch)) if i not in rejected]
        if good:
            sent = [batch[i] for i in good]
            try:
                await self.child.write(sent)
            except Exception as exc:  # noqa: BLE001 - reported with the rejections below
                rejected.update(failures(exc, sent, good))
        order = sorted(rejected)
        raise PartialDelivery([batch[i] for i in order], [rejected[i] for i in order], total=len(batch))


register(s.ComponentSpec(
    name="reject_errored", kind="output", category="utility",
    summary="Rejects messages that have failed their processing steps, resulting in nack behaviour at the "
            "input level, otherwise sends them to a child output.",
    description=(
        "A message is errored when a processor flagged it (Bento's error flag: what `error()` returns in "
        "a mapping and `catch` clears).\n\n"
        "A batch mixing errored and good messages: the good ones are written to the child output; then "
        "the write fails for the errored ones only (error `rejecting due to failed processing: <the "
        "message's error>`). Within a `fallback`, only those go to the next output (a dead-letter "
        "queue); otherwise the input redelivers only those. If the child fails too, its failed messages "
        "are nacked along with the rejected ones."),
    config=s.Field("reject_errored", "output", "The output that receives the messages that are not errored."),
    factory=lambda conf, ctx: RejectErroredOutput(conf, ctx),
    examples=(
        "output:\n  reject_errored:\n    inproc: processed",
        "output:\n  fallback:\n    - reject_errored:\n        inproc: processed\n    - inproc: dead_letters",
    ),
))
