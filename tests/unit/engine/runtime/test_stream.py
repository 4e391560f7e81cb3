"""The runtime's promises: acks after delivery, redelivery of nacks, bounded memory, draining shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.component import AckFn, EndOfInput, Input, Output, Processor
from engine.config.validate import ComponentConfig
from engine.message import Batch, Message
from engine.runtime.context import BuildContext
from engine.runtime.inproc import InprocHub
from engine.runtime.inputs import AutoRetryNacks, ShapedInput
from engine.runtime.batching import BatchPolicy
from engine.runtime.outputs import OutputRunner
from engine.runtime.stream import Stream


class ListInput(Input):
    """A finite input that records how each batch was settled."""

    def __init__(self, payloads: list[bytes], per_batch: int = 1) -> None:
        self.payloads = list(payloads)
        self.per_batch = per_batch
        self.acks: list[tuple[list[bytes], BaseException | None]] = []
        self.reads = 0

    async def read(self) -> tuple[Batch, AckFn]:
        if not self.payloads:
            raise EndOfInput
        taken, self.payloads = self.payloads[: self.per_batch], self.payloads[self.per_batch:]
        self.reads += 1

        async def ack(error: BaseException | None) -> None:
            self.acks.append((taken, error))

        return [Message(p) for p in taken], ack


class EndlessInput(Input):
    def __init__(self) -> None:
        self.reads = 0

    async def read(self) -> tuple[Batch, AckFn]:
        self.reads += 1
        await asyncio.sleep(0)

        async def ack(error: BaseException | None) -> None:
            return None

        return [Message(b"x" * 100)], ack


class RecordingOutput(Output):
    def __init__(self, fail_times: int = 0, delay: float = 0.0, hang: bool = False, inline: bool = False) -> None:
        self.writes_inline = inline
        self.fail_times = fail_times
        self.delay = delay
        self.hang = hang
        self.delivered: list[bytes] = []
        self.objects: list[bytes] = []
        self.attempts = 0
        self.concurrent = 0
        self.max_concurrent = 0

    async def write(self, batch: Batch) -> None:
        self.attempts += 1
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.hang:
                await asyncio.Event().wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail_times > 0:
                self.fail_times -= 1
                raise ConnectionError("sink unavailable")
            self.delivered.extend(m.raw for m in batch)
            self.objects.extend(m.raw for m in batch)
        finally:
            self.concurrent -= 1


class Raising(Processor):
    async def process_batch(self, batch: Batch) -> Batch:
        raise RuntimeError("boom")


def _ctx() -> BuildContext:
    return BuildContext(stream="test", resources={}, hub=InprocHub())


def _bind(component: Any, kind: str, config: Any = None) -> Any:
    component.bind(ComponentConfig(kind, "test", config or {}, f"{kind}.test"), _ctx())  # type: ignore[arg-type]
    return component


def make_stream(inp: Input, out: Output, processors: list[Processor] | None = None,
                output_conf: dict[str, Any] | None = None, retry: bool = True) -> Stream:
    _bind(inp, "input")
    wrapped: Input = AutoRetryNacks(inp) if retry else inp
    if retry:
        wrapped.bind(inp.component, _ctx())
    _bind(out, "output", output_conf)
    runner = OutputRunner(out, out.component, _ctx())
    for p in processors or []:
        _bind(p, "processor")
    return Stream("test", wrapped, processors or [], runner)


def test_untouched_message_leaves_as_same_bytes(run: Any) -> None:
    payload = b'{"temp": 21.5}'
    inp, out = ListInput([payload]), RecordingOutput()
    assert run(make_stream(inp, out).run())
    assert out.objects[0] is payload


def test_input_acked_only_after_delivery(run: Any) -> None:
    inp, out = ListInput([b"a", b"b", b"c"]), RecordingOutput(delay=0.01)
    acked_before_delivery: list[bool] = []
    original = inp.read

    async def read() -> tuple[Batch, AckFn]:
        batch, ack = await original()

        async def checking_ack(error: BaseException | None) -> None:
            acked_before_delivery.append(batch[0].raw not in out.delivered)
            await ack(error)

        return batch, checking_ack

    inp.read = read  # type: ignore[method-assign]
    run(make_stream(inp, out).run())
    assert out.delivered == [b"a", b"b", b"c"]
    assert acked_before_delivery == [False, False, False]
    assert [error for _, error in inp.acks] == [None, None, None]


def test_failed_delivery_is_redelivered_not_lost(run: Any) -> None:
    inp, out = ListInput([b"1", b"2", b"3"]), RecordingOutput(fail_times=3)
    run(make_stream(inp, out).run())
    assert out.delivered == [b"1", b"2", b"3"] or sorted(out.delivered) == [b"1", b"2", b"3"]
    assert out.attempts == 6
    assert all(error is None for _, error in inp.acks) and len(inp.acks) == 3


def test_processor_failure_marks_messages_and_stream_continues(run: Any) -> None:
    seen: list[str | None] = []

    class Check(Output):
        async def write(self, batch: Batch) -> None:
            seen.extend(m.error for m in batch)

    inp = ListInput([b"a", b"b"])
    run(make_stream(inp, Check(), processors=[Raising()]).run())
    assert len(seen) == 2 and all(e and "boom" in e for e in seen)
    assert all("processor.test" in (e or "") for e in seen)


def test_processor_dropping_everything_acks(run: Any) -> None:
    class DropAll(Processor):
        async def process_batch(self, batch: Batch) -> Batch:
            return []

    inp, out = ListInput([b"a", b"b"]), RecordingOutput()
    run(make_stream(inp, out, processors=[DropAll()]).run())
    assert out.delivered == []
    assert [e for _, e in inp.acks] == [None, None]


def test_slow_output_slows_input(run: Any) -> None:
    """Backpressure: reads never run far ahead of deliveries, whatever the input's speed."""
    inp, out = EndlessInput(), RecordingOutput(delay=0.005)
    stream = make_stream(inp, out)
    gaps: list[int] = []

    async def scenario() -> None:
        running = asyncio.ensure_future(stream.run(shutdown_timeout=5))
        for _ in range(40):
            await asyncio.sleep(0.01)
            gaps.append(inp.reads - len(out.delivered))
        stream.stop()
        await running

    run(scenario())
    assert len(out.delivered) > 10
    assert max(gaps) <= 6, gaps  # queue (1) + in flight (1) + one being read/processed + wrappers


def test_max_in_flight_allows_concurrent_writes(run: Any) -> None:
    inp, out = ListInput([str(i).encode() for i in range(20)]), RecordingOutput(delay=0.01)
    run(make_stream(inp, out, output_conf={"max_in_flight": 4}).run())
    assert sorted(out.delivered, key=int) == [str(i).encode() for i in range(20)]
    assert 2 <= out.max_concurrent <= 4


def test_output_batching_flushes_partial_batch_at_end(run: Any) -> None:
    sizes: list[int] = []

    class Sizes(Output):
        async def write(self, batch: Batch) -> None:
            sizes.append(len(batch))

    inp = ListInput([b"x"] * 7)
    run(make_stream(inp, Sizes(), output_conf={"batching": {"count": 3, "byte_size": 0, "period": 0.0}}).run())
    assert sizes == [3, 3, 1]
    assert len(inp.acks) == 7


def test_output_batching_period_flushes(run: Any) -> None:
    sizes: list[int] = []

    class Sizes(Output):
        async def write(self, batch: Batch) -> None:
            sizes.append(len(batch))

    hub = InprocHub()

    class Trickle(Input):
        def __init__(self) -> None:
            self.n = 0

        async def read(self) -> tuple[Batch, AckFn]:
            self.n += 1
            if self.n > 2:
                await asyncio.Event().wait()
            return [Message(b"x")], _noop

    del hub
    out = Sizes()
    stream = make_stream(Trickle(), out, output_conf={"batching": {"count": 100, "byte_size": 0, "period": 0.05}})

    async def scenario() -> None:
        running = asyncio.ensure_future(stream.run(shutdown_timeout=2))
        for _ in range(100):
            if sizes:
                break
            await asyncio.sleep(0.01)
        stream.stop()
        await running

    run(scenario())
    assert sizes == [2]


async def _noop(error: BaseException | None) -> None:
    return None


def test_input_batching_combines_and_acks_each(run: Any) -> None:
    inp = ListInput([b"a", b"b", b"c", b"d", b"e"])
    _bind(inp, "input")
    retry = AutoRetryNacks(inp)
    retry.bind(inp.component, _ctx())
    shaped = ShapedInput(retry, [], BatchPolicy(count=2))
    shaped.bind(inp.component, _ctx())
    sizes: list[int] = []

    class Sizes(Output):
        async def write(self, batch: Batch) -> None:
            sizes.append(len(batch))

    out = _bind(Sizes(), "output")
    run(Stream("t", shaped, [], OutputRunner(out, out.component, _ctx())).run())
    assert sizes == [2, 2, 1]
    assert len(inp.acks) == 5


def test_stop_drains_in_flight_then_returns(run: Any) -> None:
    inp, out = EndlessInput(), RecordingOutput(delay=0.05)
    stream = make_stream(inp, out)

    async def scenario() -> bool:
        running = asyncio.ensure_future(stream.run(shutdown_timeout=5))
        while not out.attempts:
            await asyncio.sleep(0.005)
        stream.stop()
        return await running

    assert run(scenario()) is True
    assert out.delivered, "the batch in flight at stop time must still be delivered"
    assert out.attempts == len(out.delivered)


def test_shutdown_timeout_bounds_a_hanging_output(run: Any) -> None:
    inp, out = EndlessInput(), RecordingOutput(hang=True)
    stream = make_stream(inp, out)

    async def scenario() -> bool:
        running = asyncio.ensure_future(stream.run(shutdown_timeout=0.2))
        while not out.attempts:
            await asyncio.sleep(0.005)
        stream.stop()
        return await running

    assert run(scenario(), timeout=5) is False


def test_redelivered_batch_is_the_original_not_the_processed_one(run: Any) -> None:
    class Append(Processor):
        async def process_batch(self, batch: Batch) -> Batch:
            for m in batch:
                m.set_raw(m.raw + b"!")
            return batch

    inp, out = ListInput([b"a"]), RecordingOutput(fail_times=2)
    run(make_stream(inp, out, processors=[Append()]).run())
    assert out.delivered == [b"a!"]


def test_stop_tells_the_output_to_give_up_waiting(run: Any) -> None:
    """An output waiting for something that may never come (a subscriber) fails its write on stop,
    so shutdown does not sit out the whole shutdown_timeout."""

    class WaitsForSubscriber(Output):
        def __init__(self) -> None:
            self.gave_up = asyncio.Event()
            self.waiting = asyncio.Event()

        async def write(self, batch: Batch) -> None:
            self.waiting.set()
            await self.gave_up.wait()
            raise ConnectionAbortedError("stopped before a subscriber came")

        def stopping(self) -> None:
            self.gave_up.set()

    out = WaitsForSubscriber()
    stream = make_stream(EndlessInput(), out)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        running = asyncio.ensure_future(stream.run(shutdown_timeout=30))
        await out.waiting.wait()
        started = loop.time()
        stream.stop()
        await running
        return loop.time() - started

    assert run(scenario(), timeout=10) < 5


def test_deliver_now_settles_at_once_when_the_output_does_not_wait(run: Any) -> None:
    async def main() -> None:
        out = _bind(RecordingOutput(inline=True), "output")
        runner = OutputRunner(out, out.component, _ctx())
        outcomes: list[BaseException | None] = []

        async def done(error: BaseException | None) -> None:
            outcomes.append(error)

        assert runner.takes_now()
        runner.deliver_now([Message(b"x")], done)
        assert outcomes == [None] and out.delivered == [b"x"] and not runner._tasks
        assert runner.takes_now()  # its max_in_flight slot was given back

    run(main())


def test_an_output_that_does_not_write_inline_is_written_from_a_task_of_its_own(run: Any) -> None:
    async def main() -> None:
        out = _bind(RecordingOutput(), "output")
        runner = OutputRunner(out, out.component, _ctx())
        outcomes: list[BaseException | None] = []

        async def done(error: BaseException | None) -> None:
            outcomes.append(error)

        runner.deliver_now([Message(b"x")], done)
        assert outcomes == [] and out.attempts == 0 and len(runner._tasks) == 1
        assert await runner.drain(5) and outcomes == [None] and out.delivered == [b"x"]

    run(main())


class TaskRecordingOutput(RecordingOutput):
    """Writes inline, waits on every WAIT_EVERY-th write, and records the task each write began in."""

    def __init__(self, wait_every: int) -> None:
        super().__init__(inline=True)
        self.wait_every = wait_every
        self.tasks: list[asyncio.Task[Any] | None] = []

    async def write(self, batch: Batch) -> None:
        self.tasks.append(asyncio.current_task())
        if len(self.tasks) % self.wait_every == 0:
            await asyncio.sleep(0.001)
        await super().write(batch)


@pytest.mark.parametrize("retry", [True, False], ids=["reads-in-a-task", "reads-without-waiting"])
def test_without_processors_a_batch_read_goes_from_the_reader_to_the_output_in_order(run: Any, retry: bool) -> None:
    payloads = [b"%d" % i for i in range(200)]
    inp, out = ListInput(payloads), TaskRecordingOutput(wait_every=7)
    stream = make_stream(inp, out, retry=retry)
    assert run(stream.run())
    assert out.delivered == payloads  # batches that waited for the slot (queued) were not overtaken
    assert [error for _, error in inp.acks] == [None] * len(payloads)
    from_reader = sum(task is stream._reader for task in out.tasks)
    assert 0 < from_reader < len(payloads)  # the queue and work loop only while the output was busy


def test_with_processors_every_batch_goes_through_the_work_loop(run: Any) -> None:
    class Upper(Processor):
        async def process_batch(self, batch: Batch) -> Batch:
            return [Message(m.raw.upper()) for m in batch]

    inp, out = ListInput([b"a", b"b", b"c"]), TaskRecordingOutput(wait_every=1000)
    stream = make_stream(inp, out, [Upper()])
    assert run(stream.run())
    assert out.delivered == [b"A", b"B", b"C"] and stream._reader not in out.tasks


def test_deliver_now_goes_on_in_a_task_when_the_output_waits_and_is_cancelled_by_close(run: Any) -> None:
    async def main() -> None:
        out = _bind(RecordingOutput(delay=0.05, inline=True), "output")
        runner = OutputRunner(out, out.component, _ctx())
        outcomes: list[BaseException | None] = []

        async def done(error: BaseException | None) -> None:
            outcomes.append(error)

        runner.deliver_now([Message(b"a")], done)
        assert outcomes == [] and not runner.takes_now()  # waiting on the output, holding its slot
        assert await runner.drain(5) and outcomes == [None] and out.delivered == [b"a"]
        hanging = _bind(RecordingOutput(hang=True, inline=True), "output")
        runner = OutputRunner(hanging, hanging.component, _ctx())
        runner.deliver_now([Message(b"b")], done)
        await runner.close(0.05)
        assert isinstance(outcomes[-1], ConnectionAbortedError) and runner.takes_now()

    run(main())


def test_redelivery_wrapper_starts_a_read_in_its_callers_task_only_for_an_input_that_reads_inline(run: Any) -> None:
    class TaskNoting(ListInput):
        async def read(self) -> tuple[Batch, AckFn]:
            self.task = asyncio.current_task()
            return await super().read()

    async def main() -> None:
        for inline in (True, False):
            inp = _bind(TaskNoting([b"now"]), "input")
            inp.reads_inline = inline
            batch, ack = await AutoRetryNacks(inp).read()
            assert [m.raw for m in batch] == [b"now"]
            assert (inp.task is asyncio.current_task()) is inline  # otherwise in a task of its own
            await ack(None)
        waits = _bind(EndlessInput(), "input")  # sleeps before each batch: goes on in a task
        waits.reads_inline = True
        batch, ack = await AutoRetryNacks(waits).read()
        assert [m.raw for m in batch] == [b"x" * 100] and waits.reads == 1
        await ack(None)
        ended = _bind(ListInput([]), "input")
        ended.reads_inline = True
        with pytest.raises(EndOfInput):
            await AutoRetryNacks(ended).read()

    run(main())


class Instant(Input):
    """Never waits for a batch; ends after LIMIT (so that a reader that never gives way ends rather than hangs)."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    async def read(self) -> tuple[Batch, AckFn]:
        self.left -= 1
        if self.left < 0:
            raise EndOfInput

        async def ack(error: BaseException | None) -> None:
            return None

        return [Message(b"x")], ack


def test_a_reader_whose_input_and_output_never_wait_still_lets_other_tasks_run(run: Any) -> None:
    from engine.runtime.stream import YIELD_EVERY

    out = RecordingOutput(inline=True)
    stream = make_stream(Instant(limit=200_000), out, retry=False)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        running = asyncio.ensure_future(stream.run())
        ticks, started = 0, loop.time()
        while loop.time() - started < 20 * YIELD_EVERY:
            ticks += 1
            await asyncio.sleep(0)
        stream.stop()
        await asyncio.wait_for(running, 5)
        return ticks

    ticks = run(main())
    assert ticks >= 10  # this task ran about once per YIELD_EVERY, not never
    assert len(out.delivered) > 5 * ticks  # and the reader did not give way after every batch
