"""Distribution and slow-consumer policies of the http_server output, at the component level
(subscribers made with `subscribe`, as the gateway may)."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.components.outputs.http_server import SLOW_CONSUMER_REASON
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import load


def build(**fields: Any) -> Any:
    body = "".join(f"    {k}: {v}\n" for k, v in fields.items()) or "    {}\n"
    manager = Manager(load("input:\n  inproc: in\noutput:\n  http_server:\n" + body))
    manager.build()
    return manager.streams["main"].output.output


def msgs(*payloads: bytes) -> list[Message]:
    return [Message(p) for p in payloads]


def test_round_robin_passes_over_a_full_client_and_waits_when_all_are_full(run) -> None:
    async def main() -> None:
        out = build(send_buffer=2)
        a, b = out.subscribe("ws"), out.subscribe("ws")
        for i in range(4):
            await out.write(msgs(b"m%d" % i))
        assert list(a.buffer) == [b"m0", b"m2"] and list(b.buffer) == [b"m1", b"m3"]
        writing = asyncio.ensure_future(out.write(msgs(b"m4")))
        await asyncio.sleep(0.05)
        assert not writing.done()  # every buffer is full: backpressure
        assert out.take(b, 1) == [b"m1"]  # b has room again
        await asyncio.wait_for(writing, 5)
        assert list(b.buffer) == [b"m3", b"m4"]
        c = out.subscribe("ws")
        await out.write(msgs(b"m5"))  # a and b are full: c takes it
        assert list(c.buffer) == [b"m5"]
        assert out.stats["dropped"] == out.stats["disconnected_slow"] == 0

    run(main())


def test_broadcast_disconnects_only_the_client_that_overflows(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast", send_buffer=2)
        slow, fast = out.subscribe("ws"), out.subscribe("ws")
        for i in range(3):
            await out.write(msgs(b"m%d" % i))
            assert out.take(fast) == [b"m%d" % i]
        assert slow.closing == (1008, SLOW_CONSUMER_REASON)
        assert out.stats["disconnected_slow"] == 1 and out.stats["clients"] == 1
        assert not slow.buffer and out.stats["discarded"] == 2
        await out.write(msgs(b"m3"))
        assert out.take(fast) == [b"m3"]

    run(main())


def test_broadcast_drop_oldest_keeps_the_newest(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast", send_buffer=2, slow_consumer="drop_oldest")
        sub = out.subscribe("stream")
        for i in range(5):
            await out.write(msgs(b"m%d" % i))
        assert list(sub.buffer) == [b"m3\n", b"m4\n"]
        assert out.stats["dropped"] == 3 and sub.closing is None

    run(main())


def test_broadcast_waits_for_a_first_subscriber(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        writing = asyncio.ensure_future(out.write(msgs(b"first")))
        await asyncio.sleep(0.05)
        assert not writing.done()
        sub = out.subscribe("ws")
        await asyncio.wait_for(writing, 5)
        assert list(sub.buffer) == [b"first"]

    run(main())


def test_a_long_poll_takes_one_batch_and_leaves(run) -> None:
    async def main() -> None:
        out = build()
        poll, ws = out.subscribe("poll"), out.subscribe("ws")
        await out.write(msgs(b"a", b"b"))
        await out.write(msgs(b"c"))
        await out.write(msgs(b"d"))
        assert [m.raw for m in poll.future.result()] == [b"a", b"b"]
        assert list(ws.buffer) == [b"c", b"d"]
        assert out.stats["clients"] == 1

    run(main())


def test_close_stops_a_waiting_write_and_refuses_subscribers(run) -> None:
    async def main() -> None:
        out = build()
        writing = asyncio.ensure_future(out.write(msgs(b"nobody")))
        await asyncio.sleep(0.01)
        await out.close()
        try:
            await asyncio.wait_for(writing, 5)
        except ConnectionAbortedError:
            pass
        else:
            raise AssertionError("the write should have failed")
        try:
            out.subscribe("ws")
        except ConnectionAbortedError:
            return
        raise AssertionError("subscribing to a closed output should fail")

    run(main())
