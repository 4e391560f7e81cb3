"""The wrapper every output gets: its own processors, batching, `max_in_flight`, and settling acks."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Awaitable, Callable

from ..component import Output
from ..message import Batch, LineBatch
from .batching import BatchPolicy
from .drive import resume
from .processors import apply_processors

if TYPE_CHECKING:
    from ..config.validate import ComponentConfig
    from .context import BuildContext

Done = Callable[[BaseException | None], Awaitable[None]]


class OutputRunner:
    """Accepts batches with `submit` (returns once there is room: backpressure) and
    settles each one's `done` after the output confirmed or failed it."""

    def __init__(self, output: Output, cc: "ComponentConfig", ctx: "BuildContext") -> None:
        self.output = output
        self.component = cc
        conf = cc.config if isinstance(cc.config, dict) else {}
        self.processors = ctx.build_processors(cc.processors)
        self.policy = BatchPolicy.from_config(conf.get("batching"))
        # Outputs without a `max_in_flight` field (brokers, switch, fallback) may say how many
        # writes they can take at once, from what their children can take.
        self.max_in_flight = max(1, int(conf.get("max_in_flight") or getattr(output, "max_in_flight", 1) or 1))
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: list[Done] = []
        self._timer: asyncio.TimerHandle | None = None
        self.written_messages = 0
        self.failed_messages = 0

    @property
    def where(self) -> str:
        return self.component.where

    async def connect(self) -> None:
        await self.output.connect()

    def stopping(self) -> None:
        self.output.stopping()

    @property
    def takes_lines(self) -> bool:
        """LineBatch batches go straight to the output (`submit` makes messages of them otherwise)."""
        return not self.processors and self.policy is None and self.output.takes_lines

    def takes_now(self) -> bool:
        """Whether `submit` would start a delivery without waiting: no processors to run first, no batching
        policy, a free `max_in_flight` slot."""
        return not self.processors and self.policy is None and not self._slots.locked()

    def deliver_now(self, batch: Batch, done: Done) -> None:
        """For a caller that checked `takes_now()`: start the delivery without waiting (see `_launch`)."""
        if self._slots.locked():
            raise RuntimeError("deliver_now without a free max_in_flight slot (check takes_now first)")
        acquiring = self._slots.acquire()
        try:
            acquiring.send(None)  # a free slot: acquire() returns at its first step
        except StopIteration:
            pass
        self._launch(batch, [done])

    async def submit(self, batch: Batch | LineBatch, done: Done) -> None:
        if type(batch) is LineBatch and not self.takes_lines:
            batch = batch.messages()
        if self.processors:
            batch = await apply_processors(self.processors, batch)
            if not batch:
                await done(None)
                return
        policy = self.policy
        if policy is None:
            await self._start(batch, [done])
            return
        self._waiting.append(done)
        if policy.add(batch):
            await self._flush()
        elif policy.period and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(policy.period, self._flush_soon)

    async def write(self, batch: Batch) -> None:
        """Submit and wait for the outcome; raise the output's error if it failed."""
        outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

        async def done(error: BaseException | None) -> None:
            if not outcome.done():
                outcome.set_result(error)

        await self.submit(batch, done)
        error = await outcome
        if error is not None:
            raise error

    def _flush_soon(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self.policy is not None
        if not len(self.policy):
            return
        batch, waiting, self._waiting = self.policy.flush(), self._waiting, []
        await self._start(batch, waiting)

    async def _start(self, batch: Batch, waiting: list[Done]) -> None:
        await self._slots.acquire()
        self._launch(batch, waiting)

    def _launch(self, batch: Batch, waiting: list[Done]) -> None:
        """Run the delivery (its slot taken) in the caller's task up to the output's first wait, and only from
        there in a task of its own, when the output `writes_inline`: one that does not wait (`drop`, a WebSocket
        hand-over) then costs no task and no trip through the event loop."""
        delivery = self._deliver(batch, waiting)
        if self.output.writes_inline:
            try:
                awaiting = delivery.send(None)
            except StopIteration:
                return
            task = asyncio.ensure_future(resume(delivery, awaiting))
        else:
            task = asyncio.ensure_future(delivery)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, batch: Batch, waiting: list[Done]) -> None:
        error: BaseException | None = None
        try:
            await self.output.write(batch)
            self.written_messages += len(batch)
        except asyncio.CancelledError:
            error = ConnectionAbortedError(f"{self.where}: delivery cancelled by shutdown")
            self.failed_messages += len(batch)
        except Exception as exc:  # noqa: BLE001 - a failed delivery is a nack, not a crash
            error = exc
            self.failed_messages += len(batch)
            self.output.log.error("%s: delivery of %d message(s) failed: %s", self.where, len(batch), exc)
        finally:
            self._slots.release()
        for done in waiting:
            try:
                await done(error)
            except Exception as exc:  # noqa: BLE001
                self.output.log.error("%s: acknowledging failed: %s", self.where, exc)

    async def flush(self) -> None:
        """Send a partial batch now rather than waiting for the policy."""
        if self.policy is not None and len(self.policy):
            await self._flush()
        flush_children = getattr(self.output, "flush_children", None)
        if flush_children is not None:
            # An output made of outputs (broker, switch, ...): let deliveries just started hand
            # their batches to the children, then flush the children's own batching (so a child
            # batching by count alone does not hold the last messages of a finite input forever).
            await asyncio.sleep(0)
            await flush_children()

    async def drain(self, timeout: float | None = None) -> bool:
        """Flush a partial batch and wait for in-flight deliveries; False on timeout."""
        await self.flush()
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending

    async def close(self, timeout: float | None = None) -> None:
        if not await self.drain(timeout):
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.output.close()
