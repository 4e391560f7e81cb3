"""The `fallback` output: tries each output in order for the messages the previous one failed."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register
from ._delivery import Failed, capacity, failures, raise_failed

FALLBACK_ERROR = "fallback_error"


class FallbackOutput(Output):
    def __init__(self, conf: list[Any], ctx: Any) -> None:
        if not conf:
            raise ValueError("fallback needs at least one output")
        self.tiers = [ctx.build_output(cc) for cc in conf]

    @property
    def max_in_flight(self) -> int:
        return max(capacity(tier) for tier in self.tiers)

    async def connect(self) -> None:
        for tier in self.tiers:
            await tier.connect()

    async def flush_children(self) -> None:
        for tier in self.tiers:
            await tier.flush()

    def stopping(self) -> None:
        for tier in self.tiers:
            tier.stopping()

    async def close(self) -> None:
        for tier in self.tiers:
            await tier.close(0)

    async def write(self, batch: Batch) -> None:
        positions = list(range(len(batch)))
        failed: Failed = {}
        error: BaseException | None = None
        for n, tier in enumerate(self.tiers):
            # Each tier gets copies of the original messages (not what the previous tier's
            # processors made of them), and after a failure the reason as `fallback_error`.
            sent = []
            for p in positions:
                msg = batch[p].copy()
                if n:
                    msg.meta[FALLBACK_ERROR] = failed[p]
                sent.append(msg)
            try:
                await tier.write(sent)
                return
            except Exception as exc:  # noqa: BLE001 - a failure moves on to the next tier
                error = exc
                failed = failures(exc, sent, positions)
                if not failed:
                    return
                positions = sorted(failed)
                if n + 1 < len(self.tiers):
                    self.log.warning("%s: %d message(s) not delivered to %s, trying %s: %s", self.where,
                                     len(positions), tier.where, self.tiers[n + 1].where, exc)
        assert error is not None
        raise_failed(batch, failed, error)


register(s.ComponentSpec(
    name="fallback", kind="output", category="utility",
    summary="Attempts to send each message to a child output, starting from the first output on the list. "
            "If an output attempt fails then the next output in the list is attempted, and so on.",
    description=(
        "Useful for rerouting messages when an output breaks, or as a dead-letter queue together with "
        "`reject_errored`.\n\n"
        "Metadata: a message passed to the next output carries `fallback_error`, the reason the previous "
        "output failed it.\n\n"
        "Batches: when an output fails only some messages of a batch (e.g. `reject_errored` rejecting the "
        "errored ones), only those go on to the next output; when it cannot tell which, the whole batch "
        "does. Each output gets copies of the messages as they reached the fallback, not as the previous "
        "output's processors left them. If the last output fails too, the messages still failing are "
        "nacked."),
    config=s.Field("fallback", "output", "The outputs to try, in order.", kind="list"),
    factory=lambda conf, ctx: FallbackOutput(conf, ctx),
    examples=(
        "output:\n  fallback:\n    - inproc: primary\n"
        "    - file:\n        path: /var/lib/asyncgate/everything_failed.jsonl",
        "output:\n  fallback:\n    - reject_errored:\n        inproc: processed\n    - inproc: dead_letters",
    ),
))
