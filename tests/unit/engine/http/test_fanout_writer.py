"""The http_server output's writer for framed WebSocket subscribers (engine/runtime/ws_frames.py's extension),
at the component level with fake connections: frames joined once and the same bytes written to every
caught-up subscriber, a backlog (drained with the awaited send) only for one that cannot take them now,
slow-consumer policies on that backlog, round robin, and the handler as the subscriber's only coroutine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.components.outputs.http_server import SLOW_CONSUMER_REASON
from engine.runtime.ws_frames import EXTENSION, frame

from .support import until
from .test_distribution import build, msgs


class Conn:
    """A fake connection behind the frames extension: `write` takes DATA unless `accepting` is off, `send`
    waits for `gate` (while it is set, the connection is backed up)."""

    def __init__(self, accepting: bool = True) -> None:
        self.accepting = accepting
        self.out: list[tuple[str, bytes]] = []  # ("write" | "send", data) in the order written
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed = False

    def write(self, data: bytes) -> bool:
        if self.closed:
            raise ConnectionResetError("closed")
        if not self.accepting:
            return False
        self.out.append(("write", data))
        return True

    async def send(self, data: bytes) -> None:
        await self.gate.wait()
        if self.closed:
            raise ConnectionResetError("closed")
        self.out.append(("send", data))

    def frames(self) -> dict[str, Any]:
        return {"send": self.send, "write": self.write}

    def received(self) -> bytes:
        return b"".join(data for _, data in self.out)


def ws(*payloads: bytes) -> bytes:
    return b"".join(frame(p) for p in payloads)


async def settle(out: Any) -> None:
    """Until the writer and every backlog task have nothing left to do (the writer may be waiting out
    COALESCE_WINDOW)."""
    await until(lambda: not out._pending and not out._dirty and all(s.draining is None for s in out._subs),
                what="the writer and the backlogs to settle")


async def settle_writer(out: Any) -> None:
    """Until the writer has written (or queued) what was pending."""
    await until(lambda: not out._pending and not out._dirty, what="the writer")


def test_broadcast_writes_the_same_joined_bytes_to_every_caught_up_subscriber(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        conns = [Conn() for _ in range(3)]
        subs = [out.subscribe("ws", frames=c.frames()) for c in conns]
        await out.write(msgs(b"a", b"b"))
        await out.write(msgs(b"c"))  # before the writer ran: joined with the first batch
        await settle(out)
        assert all(c.out == [("write", ws(b"a", b"b", b"c"))] for c in conns)
        assert conns[0].out[0][1] is conns[1].out[0][1] is conns[2].out[0][1]
        assert [s.delivered for s in subs] == [3, 3, 3] and all(s.buffer is None for s in subs)
        stats = out.stats
        assert stats["ws_framed_clients"] == 3 and stats["queued"] == stats["delivered"] == 9

    run(main())


def test_a_backed_up_subscriber_gets_a_backlog_in_order_and_is_written_directly_once_caught_up(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        fast, slow = Conn(), Conn(accepting=False)
        slow.gate.clear()
        fast_sub, slow_sub = out.subscribe("ws", frames=fast.frames()), out.subscribe("ws", frames=slow.frames())
        await out.write(msgs(b"m0"))
        await settle_writer(out)
        assert slow_sub.draining is not None  # its backlog task waits in send
        slow.accepting = True  # writable again, but m1 must not overtake m0
        await out.write(msgs(b"m1"))
        await settle_writer(out)
        assert slow.out == [] and list(slow_sub.buffer or ()) == [frame(b"m1")]
        slow.gate.set()
        await settle(out)
        assert slow.received() == fast.received() == ws(b"m0", b"m1")
        assert [kind for kind, _ in slow.out] == ["send", "send"] and slow_sub.buffer is None
        await out.write(msgs(b"m2"))
        await settle(out)
        assert slow.out[-1] == ("write", frame(b"m2"))  # caught up: the writer writes to it again
        assert slow_sub.delivered == fast_sub.delivered == 3 and out.stats["delivered"] == 6

    run(main())


@pytest.mark.parametrize("policy", ["disconnect", "drop_oldest"])
def test_slow_consumer_policy_applies_to_the_backlog(run, policy: str) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast", send_buffer=2, slow_consumer=policy)
        fast, slow = Conn(), Conn(accepting=False)
        slow.gate.clear()
        out.subscribe("ws", frames=fast.frames())
        slow_sub = out.subscribe("ws", frames=slow.frames())
        for i in range(5):
            await out.write(msgs(b"m%d" % i))
            await settle_writer(out)
        await asyncio.sleep(0)
        assert fast.received() == ws(*(b"m%d" % i for i in range(5)))
        stats = out.stats
        if policy == "disconnect":
            # m0 is being sent; m1, m2 fill the backlog; m3 does not fit: all three are discarded.
            assert slow_sub.closing == (1008, SLOW_CONSUMER_REASON)
            assert stats["disconnected_slow"] == 1 and stats["clients"] == 1 and stats["discarded"] == 3
            assert slow_sub.draining is None and not slow_sub.buffer
        else:
            assert slow_sub.closing is None and stats["dropped"] == 2
            slow.gate.set()
            await settle(out)
            assert slow.received() == ws(b"m0", b"m3", b"m4")

    run(main())


def test_round_robin_writes_each_batch_to_one_subscriber_at_once_or_through_the_writer(
        run, monkeypatch: pytest.MonkeyPatch) -> None:
    # A window no loaded machine overruns between two back-to-back writes (at 1 ms the test would race it).
    from engine.components.outputs import http_server

    monkeypatch.setattr(http_server, "COALESCE_WINDOW", 0.5)

    async def main() -> None:
        out = build(send_buffer=2)
        a, b = Conn(), Conn()
        out.subscribe("ws", frames=a.frames())
        out.subscribe("ws", frames=b.frames())
        await out.write(msgs(b"m0"))  # nothing came shortly before: written at once
        assert a.out == [("write", frame(b"m0"))] and out._writer is None
        for i in range(1, 5):
            await out.write(msgs(b"m%d" % i))  # back to back: for the writer, which has not run yet
        assert not a.out[1:] and not b.out
        assert not any(s.has_room(1) for s in out._subs)  # two pending for each: m5 waits for the writer
        await asyncio.wait_for(out.write(msgs(b"m5")), 5)
        await settle(out)
        assert a.received() == ws(b"m0", b"m2", b"m4") and b.received() == ws(b"m1", b"m3", b"m5")
        assert out.stats["queued"] == out.stats["delivered"] == 6

    run(main())


def test_a_subscriber_whose_write_fails_is_dropped_and_the_others_carry_on(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        ok, broken = Conn(), Conn()
        broken.closed = True
        out.subscribe("ws", frames=ok.frames())
        gone = out.subscribe("ws", frames=broken.frames())
        await out.write(msgs(b"x"))
        await settle(out)
        assert ok.received() == frame(b"x") and out.stats["clients"] == 1 and gone.closing is not None
        assert out.stats["queued"] == 2 and out.stats["delivered"] == 1 and out.stats["discarded"] == 1
        await out.write(msgs(b"y"))
        await settle(out)
        assert ok.received() == ws(b"x", b"y")

    run(main())


def test_an_extension_without_write_goes_through_send(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        conn = Conn()
        sub = out.subscribe("ws", frames={"send": conn.send})
        await out.write(msgs(b"a"))
        await out.write(msgs(b"b"))
        await settle(out)
        assert conn.out == [("send", ws(b"a", b"b"))] and sub.delivered == 2 and sub.buffer is None

    run(main())


class Peer:
    """The ASGI side of a framed WebSocket connection, for the output's handler."""

    def __init__(self) -> None:
        self.conn = Conn()
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def scope(self) -> dict[str, Any]:
        return {"type": "websocket", "path": "/get/ws", "client": ("127.0.0.1", 1),
                "extensions": {EXTENSION: self.conn.frames()}}


async def connect(out: Any, peer: Peer) -> asyncio.Task[None]:
    handler = asyncio.ensure_future(out._ws_app(peer.scope(), peer.receive, peer.send))
    for _ in range(50):
        await asyncio.sleep(0)
        if any(s.task is handler for s in out._subs):
            return handler
    raise AssertionError("the handler did not subscribe")


def test_an_idle_framed_subscriber_is_its_handler_alone_and_a_server_side_close_wakes_it(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        before = len(asyncio.all_tasks())
        peers = [Peer() for _ in range(5)]
        handlers = [await connect(out, p) for p in peers]
        await out.write(msgs(b"hello"))
        await settle(out)
        await peers[0].incoming.put({"type": "websocket.receive", "text": "ignored"})
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == before + 5 + 1  # the handlers and the output's writer
        assert all(p.conn.received() == frame(b"hello") for p in peers)
        assert out.close_clients(1001, "going away") == 5
        await asyncio.wait_for(asyncio.gather(*handlers), 5)
        assert all(p.sent[-1] == {"type": "websocket.close", "code": 1001, "reason": "going away"} for p in peers)
        assert out.stats["clients"] == 0

    run(main())


def test_a_closing_subscriber_is_flushed_before_its_close_frame(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        peer = Peer()
        peer.conn.accepting = False
        peer.conn.gate.clear()
        handler = await connect(out, peer)
        await out.write(msgs(b"last"))
        await settle_writer(out)
        out.close_clients(1001, "stream stopped")
        await asyncio.sleep(0.01)
        assert not handler.done() and not any(m["type"] == "websocket.close" for m in peer.sent)
        peer.conn.gate.set()
        await asyncio.wait_for(handler, 5)
        assert peer.conn.received() == frame(b"last") and peer.sent[-1]["code"] == 1001

    run(main())


def test_a_client_that_leaves_ends_its_handler_and_a_foreign_cancel_is_not_swallowed(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        leaving, cancelled = Peer(), Peer()
        first = await connect(out, leaving)
        second = await connect(out, cancelled)
        await leaving.incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(first, 5)
        assert not any(m["type"] == "websocket.close" for m in leaving.sent)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(second, 5)
        assert out.stats["clients"] == 0

    run(main())


def test_a_flush_that_takes_too_long_is_cut_off(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.components.outputs import http_server

    monkeypatch.setattr(http_server, "CLOSE_FLUSH_TIMEOUT", 0.05)

    async def main() -> None:
        out = build(fan_out="broadcast")
        peer = Peer()
        peer.conn.accepting = False
        peer.conn.gate.clear()  # never reads
        handler = await connect(out, peer)
        await out.write(msgs(b"a"))
        await out.write(msgs(b"b"))
        await settle_writer(out)
        out.close_clients(1001, "stream stopped")
        await asyncio.wait_for(handler, 5)
        assert peer.conn.out == [] and peer.sent[-1]["code"] == 1001
        assert out.stats["discarded"] == 2 - out.stats["delivered"]

    run(main())


def test_round_robin_to_a_subscriber_found_gone_counts_the_batch_as_discarded(run) -> None:
    async def main() -> None:
        out = build()
        broken, ok = Conn(), Conn()
        broken.closed = True
        out.subscribe("ws", frames=broken.frames())
        out.subscribe("ws", frames=ok.frames())
        await out.write(msgs(b"lost"))  # written at once (nothing came before): the write fails
        assert out.stats["clients"] == 1 and out.stats["discarded"] == 1
        await asyncio.sleep(0.002)  # past the coalescing window: the next is written at once too
        await out.write(msgs(b"kept"))
        assert ok.received() == frame(b"kept") and out.stats["queued"] == 2 and out.stats["delivered"] == 1

    run(main())
