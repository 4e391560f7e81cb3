"""Wrappers every input gets: redelivery of nacked batches, input processors, batching."""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any

from ..component import AckFn, EndOfInput, Input, PartialDelivery, noop_ack
from ..message import Batch, LineBatch, copy_batch
from .batching import BatchPolicy
from .drive import resume
from .processors import apply_processors

if TYPE_CHECKING:
    from ..config.validate import ComponentConfig
    from .context import BuildContext

RETRY_BACKOFF_START = 0.01
RETRY_BACKOFF_MAX = 2.0


def wrap_input(inner: Input, cc: "ComponentConfig", ctx: "BuildContext") -> Input:
    wrapped: Input = inner
    if not inner.supports_nack:
        wrapped = AutoRetryNacks(wrapped)
    processors = ctx.build_processors(cc.processors)
    policy = BatchPolicy.from_config(cc.config.get("batching") if isinstance(cc.config, dict) else None)
    if processors or policy is not None:
        wrapped = ShapedInput(wrapped, processors, policy)
    wrapped.component = inner.component
    wrapped.log = inner.log
    return wrapped


class _Delegating(Input):
    def __init__(self, inner: Input) -> None:
        self.inner = inner

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()


class AutoRetryNacks(_Delegating):
    """Re-sends a nacked batch (with backoff) for inputs that cannot redeliver.

    End of input is reported only when every batch read has been acked, so a finite
    input never ends with a message still undelivered.
    """

    supports_nack = True

    def __init__(self, inner: Input) -> None:
        super().__init__(inner)
        self._retries: collections.deque[tuple[Batch, AckFn, int]] = collections.deque()
        self._woken = False  # a retry was queued or a batch settled since the last wait
        self._waiter: asyncio.Future[None] | None = None
        self._pending = 0
        self._ended = False
        self._hinted = False
        self._reading: asyncio.Task[tuple[Batch, AckFn]] | None = None

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            if self._retries:
                self._hinted = False
                batch, ack, attempt = self._retries.popleft()
                return batch, self._tracked(batch, ack, attempt)
            if self._ended:
                if self._pending == 0:
                    raise EndOfInput
                if not self._hinted:
                    # Tell the stream nothing new is coming, so partial output batches flush now.
                    self._hinted = True
                    return [], noop_ack
                await self._wait_wake()
                continue
            reading = self._reading
            if reading is None and not self.inner.reads_inline:
                reading = self._reading = asyncio.ensure_future(self.inner.read())
            elif reading is None:
                # Started here: a read that does not wait returns without a task; one that waits goes on in one.
                started = self.inner.read()
                try:
                    awaiting = started.send(None)
                except StopIteration as done:
                    batch, ack = done.value
                    return batch, self._tracked(batch, ack, 0)
                except EndOfInput:
                    self._ended = True
                    continue
                reading = self._reading = asyncio.ensure_future(resume(started, awaiting))
            if not reading.done():
                # Until the read completes or a retry is queued: one future, no task per wait.
                reading.add_done_callback(self._wake_waiter)
                try:
                    await self._wait_wake()
                finally:
                    reading.remove_done_callback(self._wake_waiter)
                if not reading.done():
                    continue
            self._reading = None
            try:
                batch, ack = reading.result()
            except EndOfInput:
                self._ended = True
                continue
            return batch, self._tracked(batch, ack, 0)

    def pack_lines(self) -> bool:
        return self.inner.pack_lines()

    async def _wait_wake(self) -> None:
        if not self._woken:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        self._woken = False

    def _wake(self) -> None:
        self._woken = True
        self._wake_waiter()

    def _wake_waiter(self, _: object = None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _tracked(self, batch: Batch, ack: AckFn, attempt: int) -> AckFn:
        # Processors may change messages in place; a redelivery must send the originals.
        original = copy_batch(batch)
        self._pending += 1
        settled = False

        async def settle(error: BaseException | None) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            again = original
            if isinstance(error, PartialDelivery) and type(batch) is not LineBatch:
                # Re-send only what was not delivered, when every failed message is one of ours
                # (processors that replace messages break the link: then the whole batch goes again).
                located = error.locate(batch)
                if located is not None:
                    again = [original[i] for i in sorted(located)]
                    if not again:
                        error = None
            if error is None:
                self._pending -= 1
                await ack(None)
                self._wake()
                return
            delay = min(RETRY_BACKOFF_START * (2 ** attempt), RETRY_BACKOFF_MAX)
            self.log.warning("delivery of %d message(s) failed, retrying in %.2fs: %s", len(again), delay, error)

            def requeue() -> None:
                self._pending -= 1
                self._retries.append((again, ack, attempt + 1))
                self._wake()

            asyncio.get_running_loop().call_later(delay, requeue)

        return settle

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        await super().close()


class ShapedInput(_Delegating):
    """Applies an input's own `processors` and `batching` policy."""

    def __init__(self, inner: Input, processors: list[Any], policy: BatchPolicy | None) -> None:
        super().__init__(inner)
        self.supports_nack = inner.supports_nack
        self.processors = processors
        self.policy = policy
        self._reading: asyncio.Task[tuple[Batch, AckFn]] | None = None
        self._ended = False

    async def read(self) -> tuple[Batch, AckFn]:
        batch, ack = await (self.inner.read() if self.policy is None else self._read_batched())
        if self.processors:
            batch = await apply_processors(self.processors, batch)
        return batch, ack

    async def _read_batched(self) -> tuple[Batch, AckFn]:
        policy = self.policy
        assert policy is not None
        acks: list[AckFn] = []
        loop = asyncio.get_running_loop()
        deadline = None
        while not self._ended:
            if self._reading is None:
                self._reading = asyncio.ensure_future(self.inner.read())
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait((self._reading,), timeout=timeout)
            if not done:
                break  # the period elapsed: flush what we have
            reading, self._reading = self._reading, None
            try:
                batch, ack = reading.result()
            except EndOfInput:
                self._ended = True
                break
            acks.append(ack)
            if not batch:
                break  # an idle hint from below: pass on what we have
            if deadline is None and policy.period:
                deadline = loop.time() + policy.period
            if policy.add(batch):
                break
        if not acks:
            raise EndOfInput
        return policy.flush(), _combine(acks)

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        await super().close()


def _combine(acks: list[AckFn]) -> AckFn:
    if len(acks) == 1:
        return acks[0]

    async def ack_all(error: BaseException | None) -> None:
        for ack in acks:
            await ack(error)

    return ack_all
