"""Applying a chain of processors to a batch."""

from __future__ import annotations

from typing import Sequence

from ..component import Processor, mark_error
from ..message import Batch, carry_replies, has_replies


async def apply_processors(processors: Sequence[Processor], batch: Batch) -> Batch:
    """Run each processor in turn. A processor that fails as a whole marks every
    message it was given as errored (with its label and path) and the chain goes on."""
    for processor in processors:
        if not batch:
            break
        try:
            before = batch
            batch = await processor.process_batch(batch)
            if has_replies(before):  # sync responses must survive processors that build new messages
                carry_replies(before, batch)
        except Exception as exc:  # noqa: BLE001 - errors mark messages, never kill the stream
            processor.log.error("%s failed: %s", processor.where, exc)
            for msg in batch:
                mark_error(msg, processor, f"{processor.where}: {exc}")
    return batch
