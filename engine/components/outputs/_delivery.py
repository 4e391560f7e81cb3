"""Shared by the outputs made of outputs (`broker`, `switch`, `fallback`, `reject_errored`).

Children are OutputRunners (each with its own processors, batching and `max_in_flight`).
Failures are tracked per message as {position in the parent's batch: error text}, so that a
child that delivered only part of a batch (`PartialDelivery`) costs a retry or a nack of just
the messages that failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ...component import PartialDelivery
from ...message import Batch

if TYPE_CHECKING:
    from ...runtime.outputs import OutputRunner

RETRY_BACKOFF_START = 0.1
RETRY_BACKOFF_MAX = 1.0
# How many writes a child with a batching policy but no `count` (only `period`/`byte_size`) may
# gather at once: its batch fills from concurrent writes of its parent.
UNCOUNTED_BATCH_WRITES = 64

Failed = dict[int, str]


def capacity(child: "OutputRunner") -> int:
    """How many writes CHILD can usefully have under way at once."""
    writes = child.max_in_flight
    policy = child.policy
    if policy is not None:
        writes *= policy.count if policy.count > 1 else UNCOUNTED_BATCH_WRITES
    return writes


async def submit(child: "OutputRunner", batch: Batch) -> "asyncio.Future[BaseException | None]":
    """Hand BATCH to CHILD (waiting only for room: backpressure); the future settles on delivery."""
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def done(error: BaseException | None) -> None:
        if not outcome.done():
            outcome.set_result(error)

    await child.submit(batch, done)
    return outcome


def failures(error: BaseException, sent: Batch, positions: list[int]) -> Failed:
    """Which messages failed, given the ERROR of a write of SENT, whose messages sit at
    POSITIONS in the parent's batch. All of them, unless a PartialDelivery names fewer."""
    if isinstance(error, PartialDelivery):
        located = error.locate(sent)
        if located is not None:
            return {positions[i]: text for i, text in located.items()}
    text = str(error) or type(error).__name__
    return {p: text for p in positions}


def raise_failed(batch: Batch, failed: Failed, error: BaseException) -> None:
    """Raise for the FAILED messages of BATCH: ERROR itself when everything failed for one
    reason, else a PartialDelivery naming exactly the failed messages."""
    if not failed:
        return
    if len(failed) == len(batch) and not isinstance(error, PartialDelivery) and len(set(failed.values())) == 1:
        raise error
    order = sorted(failed)
    raise PartialDelivery([batch[i] for i in order], [failed[i] for i in order], total=len(batch))


class Retrier:
    """Re-sends to one child what it failed, with backoff, until it succeeds or the parent closes."""

    def __init__(self, owner: str, log: logging.Logger) -> None:
        self.owner = owner
        self.log = log
        self.closing = asyncio.Event()

    async def settle(self, child: "OutputRunner", batch: Batch, positions: list[int], sent: Batch,
                     outcome: "asyncio.Future[BaseException | None]",
                     retry: bool) -> tuple[Failed, BaseException | None]:
        """Wait for the delivery of SENT (the copies of BATCH[POSITIONS]) to CHILD; with RETRY,
        re-send fresh copies of what failed until delivered. Returns what finally failed, and why."""
        attempt = 0
        while True:
            error = await outcome
            if error is None:
                return {}, None
            failed = failures(error, sent, positions)
            if not failed:
                return {}, None
            if not retry:
                return failed, error
            if self.closing.is_set():
                return self._gave_up(child, failed, error)
            delay = min(RETRY_BACKOFF_START * (2 ** attempt), RETRY_BACKOFF_MAX)
            attempt += 1
            self.log.warning("%s: %d message(s) not delivered to %s, retrying in %.2fs: %s",
                             self.owner, len(failed), child.where, delay, error)
            try:
                await asyncio.wait_for(self.closing.wait(), delay)
            except asyncio.TimeoutError:
                pass
            else:
                return self._gave_up(child, failed, error)
            positions = sorted(failed)
            sent = [batch[p].copy() for p in positions]
            outcome = await submit(child, sent)

    def _gave_up(self, child: "OutputRunner", failed: Failed,
                 error: BaseException) -> tuple[Failed, BaseException]:
        gave_up = ConnectionAbortedError(
            f"{self.owner}: closed while retrying a delivery to {child.where} that failed: {error}")
        return {p: str(gave_up) for p in failed}, gave_up
