"""The existing `inproc` pair, `drop` output and `stdin`/`stdout` components, driven in-process."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from engine.component import EndOfInput
from engine.components.inputs.stdin import StdinInput
from engine.components.outputs.stdout import StdoutOutput
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config

from .support import msg, run_to_end

TWO_STREAMS = """
streams:
  producer:
    input:
      generate: { count: 3, interval: "", mapping: 'root = "p" + count("inproc-pair").string()' }
    output:
      inproc: middle
  consumer:
    input:
      inproc: middle
    output:
      inproc: out
"""


def test_inproc_carries_batches_between_streams(run: Any) -> None:
    got = run(run_config(TWO_STREAMS, expect=3))
    assert len(got) == 3 and len({m.raw for m in got}) == 3
    assert all(m.raw.startswith(b"p") for m in got)


def test_inproc_keeps_the_order_of_many_batches(run: Any) -> None:
    config = TWO_STREAMS.replace("count: 3", "count: 300").replace('"inproc-pair"', '"inproc-order"')
    got = run(run_config(config, expect=300))
    assert [m.raw for m in got] == [b"p%d" % i for i in range(1, 301)]


def test_a_nack_crosses_the_pipe_and_the_producer_sends_again(run: Any) -> None:
    async def scenario() -> list[bytes]:
        manager = Manager(load(TWO_STREAMS))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        got = await collect(manager.hub, "out", 3, fail=2)
        manager.stop()
        await running
        return [m.raw for m in got]

    got = run(scenario())
    assert len(got) == 3 and len(set(got)) == 3


def test_inproc_keeps_payload_and_metadata(run: Any) -> None:
    config = "input:\n  inproc: in\noutput:\n  inproc: out\n"
    got = run(run_config(config, feed=[msg(b"\x00raw bytes\xff", k="v")], expect=1))
    assert got[0].raw == b"\x00raw bytes\xff" and got[0].meta == {"k": "v"}


def test_drop_acknowledges_everything(tmp_path: Path, run: Any) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"".join(b"%d\n" % i for i in range(1000)))
    manager = Manager(load(f"input:\n  file: {{ paths: [ '{source}' ] }}\noutput:\n  drop: {{}}\n"))
    manager.build()
    assert run(manager.run()) is True
    assert manager.streams["main"].read_messages == 1000


def test_drop_scalar_shorthand(tmp_path: Path, run: Any) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"x\n")
    delivered, _ = run(run_to_end(f"input:\n  file: {{ paths: [ '{source}' ] }}\noutput:\n  drop: ''\n"))
    assert delivered


def test_stdin_reads_a_stream_reader_to_its_end(run: Any) -> None:
    async def scenario() -> list[list[bytes]]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"a\r\nb")
        reader.feed_data(b"\n\nc")
        reader.feed_eof()
        inp = StdinInput({"codec": "lines", "max_buffer": 1 << 20}, stream=reader)
        await inp.connect()
        batches = []
        while True:
            try:
                batch, _ = await inp.read()
            except EndOfInput:
                return batches
            batches.append([m.raw for m in batch])

    batches = run(scenario())
    assert [p for b in batches for p in b] == [b"a", b"b", b"c"]


def test_stdout_writes_one_frame_per_batch(run: Any) -> None:
    class Recorder(io.BytesIO):
        writes = 0

        def write(self, data: Any) -> int:  # type: ignore[override]
            Recorder.writes += 1
            return super().write(data)

    sink = Recorder()
    out = StdoutOutput({"codec": "lines"}, stream=sink)
    run(out.write([Message(b"1"), Message(b"2"), Message.from_structured({"x": 1})]))
    assert sink.getvalue() == b'1\n2\n{"x":1}\n'
    assert Recorder.writes == 1


class FakeDelivery:
    """A reading stream's InlineDelivery: ready or not, acknowledging at once what it is handed."""

    def __init__(self, ready: bool = True, error: BaseException | None = None) -> None:
        self.is_ready = ready
        self.error = error
        self.handed: list[list[bytes]] = []

    def ready(self) -> bool:
        return self.is_ready

    def __call__(self, batch: Any, ack: Any) -> None:
        self.handed.append([m.raw for m in batch])
        step = ack(self.error)
        try:
            step.send(None)  # the hub's ack does not wait
        except StopIteration:
            pass


def test_a_lent_delivery_takes_the_batch_from_the_writers_task_and_its_ack_returns_at_once(run: Any) -> None:
    from engine.runtime.inproc import InprocHub

    async def scenario() -> None:
        hub, delivery = InprocHub(), FakeDelivery()
        hub.lend("p", delivery)
        await asyncio.wait_for(hub.send("p", [Message(b"a")]), 1)  # nobody reads the pipe: inline or hang
        assert delivery.handed == [[b"a"]] and hub.pipe("p").empty()
        failing = FakeDelivery(error=ConnectionError("downstream failed"))
        hub.lend("p", failing)
        try:
            await hub.send("p", [Message(b"b")])
        except ConnectionError as exc:
            assert "downstream failed" in str(exc)
        else:
            raise AssertionError("the reader's nack did not reach the writer")
        hub.take_back("p", delivery)  # not the one lent now: no effect
        hub.take_back("p", failing)
        sending = asyncio.ensure_future(hub.send("p", [Message(b"c")]))
        batch, ack = await hub.receive("p")  # taken back: through the pipe again
        assert [m.raw for m in batch] == [b"c"] and failing.handed == [[b"b"]]
        await ack(None)
        await sending

    run(scenario())


def test_a_batch_waiting_in_the_pipe_goes_before_a_lent_delivery_takes_more(run: Any) -> None:
    from engine.runtime.inproc import InprocHub

    async def scenario() -> None:
        hub, delivery = InprocHub(), FakeDelivery(ready=False)
        hub.lend("p", delivery)
        first = asyncio.ensure_future(hub.send("p", [Message(b"1")]))  # not ready: into the pipe
        await asyncio.sleep(0)
        delivery.is_ready = True
        second = asyncio.ensure_future(hub.send("p", [Message(b"2")]))  # ready, but "1" is still in the pipe
        await asyncio.sleep(0)
        assert delivery.handed == []
        batch, ack = await hub.receive("p")
        assert [m.raw for m in batch] == [b"1"]
        await ack(None)
        await first
        batch, ack = await hub.receive("p")
        assert [m.raw for m in batch] == [b"2"]
        await ack(None)
        await second

    run(scenario())
