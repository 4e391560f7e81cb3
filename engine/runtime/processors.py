"""Applying a chain of processors to a batch."""

from __future__ import annotations

from typing import Sequence

from ..component import Processor, mark_error
from ..message import Batch, LineBatch, carry_replies, has_replies


async def apply_processors(processors: Sequence[Processor], batch: Batch | LineBatch) -> Batch | LineBatch:
    """Run each processor in turn. A processor that fails as a whole marks every
    message it was given as errored (with its label and path) and the chain goes on.
    A LineBatch stays one as long as the processors can keep it so (`process_lines`)."""
    for processor in processors:
        if not batch:
            break
        if type(batch) is LineBatch:
            kept = processor.process_lines(batch)
            if kept is not None:
                batch = kept
                continue
            batch = batch.messages()
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
