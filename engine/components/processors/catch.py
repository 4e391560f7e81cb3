"""The `catch` processor: child processors applied only to messages that failed an earlier step."""

from __future__ import annotations

from ... import spec as s
from ...component import Processor
from ...message import Batch
from ...registry import register
from ...runtime.processors import apply_processors


async def close_all(processors: list[Processor]) -> None:
    for processor in processors:
        await processor.close()


class CatchProcessor(Processor):
    def __init__(self, children: list[Processor]) -> None:
        self.children = children

    async def process_batch(self, batch: Batch) -> Batch:
        if not any(msg.error is not None for msg in batch):
            return batch  # nothing to catch: no child runs, and there is no flag to clear
        # Each message is its own batch of one (as in Bento), so batch-wide children only ever see
        # one caught message. A message is caught if it was errored on entry, and stays caught
        # through every child even if a child clears or sets its flag.
        groups: list[tuple[bool, Batch]] = [(msg.error is not None, [msg]) for msg in batch]
        for child in self.children:
            for i, (caught, group) in enumerate(groups):
                if caught and group:
                    groups[i] = (caught, await apply_processors([child], group))
        out: Batch = []
        for _, group in groups:
            for msg in group:
                msg.error = None  # leaving the catch block clears every flag
                out.append(msg)
        return out

    async def close(self) -> None:
        await close_all(self.children)


register(s.ComponentSpec(
    name="catch", kind="processor", category="composition",
    summary="Applies a list of child processors only to messages that failed an earlier processing step.",
    description=(
        "Like `for_each`, the child processors are applied to each message of a batch on its own (a batch "
        "of one), but only to messages flagged as errored by a processor before the `catch`. Messages "
        "that did not fail skip the children. The error text is available to the children through the "
        "Bloblang function `error()`, e.g. `${! error() }` in a `log` message.\n\n"
        "When messages leave the catch block their error flags are cleared, whether or not a child failed "
        "again. Use it to recover failed messages, or to log or count failures before dropping them "
        "(with a `mapping: root = deleted()` child).\n\n"
        "A `try` nested directly in a `catch` would never run its children, because the flags are cleared "
        "only at the end of the catch; insert an empty `catch: []` before the `try` to clear them first."
    ),
    config=s.Field("catch", "processor", "Processors applied to each errored message.", default=[], kind="list"),
    factory=lambda conf, ctx: CatchProcessor(ctx.build_processors([c for c in conf if c is not None])),
    examples=(
        "pipeline:\n  processors:\n    - mapping: 'root = this.payload.parse_json()'\n    - catch:\n"
        "        - log:\n            level: ERROR\n            message: 'processing failed: ${! error() }'\n"
        "        - mapping: root = deleted()",
    ),
))
