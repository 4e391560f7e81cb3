"""One stream: input → bounded queue → processors → output, with acks travelling back."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Sequence

from ..component import AckFn, EndOfInput, Input, Processor
from ..errors import ComponentError
from ..message import Batch
from .buckets import BATCH_SIZE_BOUNDS, LATENCY_BOUNDS, Buckets
from .outputs import OutputRunner
from .processors import apply_processors

READ_RETRY_MAX = 5.0
# The longest a stream's reader holds the event loop when neither its input nor its output waits.
YIELD_EVERY = 0.001
_Item = tuple[Batch, AckFn] | None


class Stream:
    def __init__(self, name: str, input: Input, processors: Sequence[Processor], output: OutputRunner,
                 threads: int = 1, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.input = input
        self.processors = list(processors)
        self.output = output
        self.threads = threads if threads > 0 else 1
        self.log = logger or logging.getLogger(f"asyncgate.{name}")
        # Bounded: when processors or the output fall behind, the reader waits.
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=self.threads)
        self._stopping = False
        self._direct = False  # set by run(): nothing between input and output (no processors, no stage spans)
        self._queued = 0  # batches put on the queue and not yet submitted to the output
        self._stop_requested = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.read_batches = 0
        self.read_messages = 0
        self.dropped_messages = 0  # dropped on purpose by the processors (filters)
        self.batch_sizes = Buckets(BATCH_SIZE_BOUNDS)
        # Opt-in (`measure()`): read to acknowledged, per batch; and an OpenTelemetry tracer for stage spans.
        self.latency: Buckets | None = None
        self.tracer: Any = None

    def measure(self, latency: bool = True, tracer: Any = None) -> None:
        """Time each batch from its read to its acknowledgement; with TRACER, a span per batch and stage."""
        if latency and self.latency is None:
            self.latency = Buckets(LATENCY_BOUNDS)
        self.tracer = tracer

    async def connect(self) -> None:
        """Connect output first (so nothing is read that cannot go anywhere), then input."""
        for part in (self.output, self.input):
            try:
                await part.connect()
            except ComponentError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported with the block's label and path
                raise ComponentError(part.where, f"cannot connect: {exc}") from exc

    def stop(self) -> None:
        """Stop reading; what was read is still processed and delivered."""
        self._stopping = True
        self._stop_requested.set()
        self.output.stopping()
        if self._reader is not None:
            self._reader.cancel()

    async def run(self, shutdown_timeout: float = 20.0) -> bool:
        """Run until the input ends (and all is delivered) or `stop()`; True if nothing was left undelivered."""
        if self.output.takes_lines and all(getattr(p, "takes_lines", False) for p in self.processors):
            # Every stage can take a chunk of lines whole (LineBatch): no Message per line.
            self.input.pack_lines()
        # With nothing between input and output, a batch read goes to the output at once when it can (see
        # _hands_over); an input that serves requests of its own (http_server) does the same from the request's
        # task (InlineDelivery).
        self._direct = not self.processors and self.tracer is None
        lend_inline = getattr(self.input, "deliver_inline", None) if self._direct else None
        if lend_inline is not None:
            lend_inline(InlineDelivery(self))
        self._reader = asyncio.ensure_future(self._read_loop())
        workers = [asyncio.ensure_future(self._work_loop()) for _ in range(self.threads)]
        try:
            await self._reader
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            if lend_inline is not None:
                lend_inline(None)
        finishing = asyncio.ensure_future(self._finish(workers))
        stopped = asyncio.ensure_future(self._stop_requested.wait())
        await asyncio.wait((finishing, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        # Once a stop is asked for, the rest of the delivery has shutdown_timeout to finish.
        done, _ = await asyncio.wait((finishing,), timeout=None if finishing.done() else shutdown_timeout)
        delivered = bool(done) and finishing.result()
        if not done:
            finishing.cancel()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(finishing, *workers, return_exceptions=True)
            self.log.warning("stream %s: shutdown timeout (%.1fs) reached with deliveries still in flight",
                             self.name, shutdown_timeout)
        await self.output.close(0)
        await self.input.close()
        for processor in self.processors:
            await processor.close()
        return delivered

    async def _finish(self, workers: list["asyncio.Task[None]"]) -> bool:
        for _ in workers:
            await self.queue.put(None)
        await asyncio.gather(*workers)
        return await self.output.drain()

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        yield_at = loop.time() + YIELD_EVERY
        failures = 0
        while not self._stopping:
            try:
                batch, ack = await self.input.read()
            except EndOfInput:
                return
            except Exception as exc:  # noqa: BLE001 - an input failure is retried, not fatal
                failures += 1
                delay = min(0.05 * 2 ** failures, READ_RETRY_MAX)
                self.log.error("%s: read failed (retrying in %.2fs): %s", self.input.where, delay, exc)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if not batch:
                await ack(None)
                await self.queue.join()
                await self.output.flush()
                continue
            ack = self._count_read(batch, ack)
            if self._hands_over():
                self.output.deliver_now(batch, ack)
                if loop.time() >= yield_at:  # the read and the delivery may not have waited at all
                    await asyncio.sleep(0)
                    yield_at = loop.time() + YIELD_EVERY
                continue
            self._queued += 1
            try:
                await self.queue.put((batch, ack))
            except BaseException:
                self._queued -= 1
                raise

    def _hands_over(self) -> bool:
        """Whether a batch just read may skip the queue and the work loop: nothing stands between input and
        output, no batch queued earlier is still on its way (order), and the output starts it without waiting."""
        return self._direct and not self._queued and not self._stopping and self.output.takes_now()

    def _count_read(self, batch: Batch, ack: AckFn) -> AckFn:
        """Count BATCH as read; its ACK, timed from now when latency is measured."""
        count = len(batch)
        self.read_batches += 1
        self.read_messages += count
        self.batch_sizes.add(count)
        return ack if self.latency is None else _timed(ack, self.latency)

    async def _work_loop(self) -> None:
        queue, output, processors = self.queue, self.output, self.processors
        while True:
            item = await queue.get()
            try:
                if item is None:
                    return
                batch, ack = item
                if self.tracer is not None:
                    await self._traced_work(batch, ack)
                    continue
                if processors:
                    count = len(batch)
                    batch = await apply_processors(processors, batch)
                    if len(batch) < count:
                        self.dropped_messages += count - len(batch)
                if batch:
                    await output.submit(batch, ack)
                else:
                    await ack(None)  # every message dropped on purpose
            finally:
                queue.task_done()
                if item is not None:
                    self._queued -= 1


    async def _traced_work(self, batch: Batch, ack: AckFn) -> None:
        """The work loop's step with a span for the batch, one for its processors and one for its output (until
        it is acknowledged)."""
        from opentelemetry import trace

        tracer = self.tracer
        with tracer.start_as_current_span(f"stream {self.name}", attributes={
                "asyncgate.stream": self.name, "asyncgate.messages": len(batch)}):
            if self.processors:
                count = len(batch)
                with tracer.start_as_current_span("processors", attributes={"asyncgate.stream": self.name}):
                    batch = await apply_processors(self.processors, batch)
                self.dropped_messages += max(0, count - len(batch))
            if not batch:
                await ack(None)
                return
            span = tracer.start_span(f"output {self.output.where}", attributes={
                "asyncgate.stream": self.name, "asyncgate.messages": len(batch)})

            async def acknowledged(error: BaseException | None) -> None:
                if error is not None:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
                span.end()
                await ack(error)

            await self.output.submit(batch, acknowledged)


class InlineDelivery:
    """Lent by a stream without processors to its input: a batch the input's own request task hands over goes
    to the output runner from that task (counted and timed as the read loop would), without the hops through
    the stream's read and work loops. The ack comes back as from the read path."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def ready(self) -> bool:
        """Whether a batch would start its delivery at once; otherwise the input queues it for `read`."""
        return self._stream._hands_over()

    def __call__(self, batch: Batch, ack: AckFn) -> None:
        """Deliver BATCH (after `ready()`): started at once, ACK called when the output confirmed or failed it
        (before this returns when the output did not have to wait)."""
        stream = self._stream
        stream.output.deliver_now(batch, stream._count_read(batch, ack))


def _timed(ack: AckFn, latency: Buckets) -> AckFn:
    start = time.monotonic()

    async def timed(error: BaseException | None) -> None:
        latency.add(time.monotonic() - start)
        await ack(error)

    return timed
