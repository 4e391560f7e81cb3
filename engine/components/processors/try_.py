"""The `try` processor: child processors applied in turn, each message leaving the chain once it fails."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Processor
from ...message import Batch
from ...registry import register
from ...runtime.processors import apply_processors
from .catch import close_all


class TryProcessor(Processor):
    def __init__(self, children: list[Processor]) -> None:
        self.children = children

    async def process_batch(self, batch: Batch) -> Batch:
        # Each message is its own batch of one (as in Bento). Before every child, a group whose
        # first message is errored (before or during the try) skips it and all that follow.
        groups: list[Batch] = [[msg] for msg in batch]
        for child in self.children:
            for i, group in enumerate(groups):
                if group and group[0].error is None:
                    groups[i] = await apply_processors([child], group)
        return [msg for group in groups for msg in group]

    async def close(self) -> None:
        await close_all(self.children)


def _factory(conf: list[Any], ctx: Any) -> TryProcessor:
    return TryProcessor(ctx.build_processors([c for c in conf if c is not None]))


register(s.ComponentSpec(
    name="try", kind="processor", category="composition",
    summary="Applies a list of child processors to each message, stopping for a message as soon as it fails.",
    description=(
        "Like `for_each`, the child processors are applied to each message of a batch on its own (a batch "
        "of one). If a message has failed any earlier processor (before or inside the `try`), it skips "
        "all the following children; the other messages of the batch carry on. With children `bar`, "
        "`baz`, `buz`: a message that fails `bar` skips `baz` and `buz`; one that passes `bar` but fails "
        "`baz` skips `buz`; one that was already errored before the `try` skips all three.\n\n"
        "Failed messages keep their error flag when they leave; follow the `try` with a `catch` to handle "
        "them. To use a `try` inside a `catch`, clear the flags first with an empty `catch: []`, since a "
        "catch clears them only at its end."
    ),
    config=s.Field("try", "processor", "Processors applied in order to each message until it fails.",
                   default=[], kind="list"),
    factory=_factory,
    examples=(
        "pipeline:\n  processors:\n    - try:\n        - mapping: 'root = this.body.parse_json()'\n"
        "        - mapping: 'root.total = this.price * this.quantity'\n"
        "    - catch:\n        - log:\n            level: ERROR\n            message: 'failed: ${! error() }'",
    ),
))
