"""Per-subscriber message rates in the http_server output, at the component level: the exact window, drops in
broadcast, and round-robin distribution that never loses a message to a subscriber over its rate."""

from __future__ import annotations

import asyncio

from engine.runtime.message_rate import MessageRate, MessageWindow

from .test_distribution import build, msgs


def test_the_window_is_exact() -> None:
    window = MessageWindow(MessageRate(3, 1.0))
    assert window.take(2, 10.0) == 2 and window.take(5, 10.5) == 1  # three in (9.5, 10.5]
    assert window.room(10.9) == 0
    assert abs(window.wait(10.9) - 0.1) < 1e-9  # the first two leave at 11.0
    assert window.take(1, 10.999) == 0
    assert window.room(11.0) == 2 and window.take(3, 11.0) == 2
    assert window.wait(11.0) == 0.5  # the one sent at 10.5 leaves at 11.5
    assert window.room(11.5) == 1 and window.wait(11.5) == 0.0
    assert str(MessageRate(1, 0.5)) == "1 message per 0.5s" and str(MessageRate(5, 60)) == "5 messages per 60s"


def test_broadcast_drops_what_is_over_a_subscribers_rate_only_for_it(run) -> None:
    async def main() -> None:
        out = build(fan_out="broadcast")
        limited = out.subscribe("stream", message_rate=MessageRate(3, 60))
        free = out.subscribe("stream")
        poll = out.subscribe("poll", message_rate=MessageRate(1, 60))
        assert poll.window is None  # long-polls are rate-limited as requests
        await out.write(msgs(b"a", b"b"))
        await out.write(msgs(b"c", b"d"))  # one of these fits
        await out.write(msgs(b"e"))
        assert out.take(limited) == [b"a\n", b"b\n", b"c\n"]
        assert out.take(free) == [b"a\n", b"b\n", b"c\n", b"d\n", b"e\n"]
        assert out.stats["rate_dropped"] == 2 and out.stats["rate_closed"] == 0 and limited.closing is None

    run(main())


def test_round_robin_passes_over_a_subscriber_at_its_rate(run) -> None:
    async def main() -> None:
        out = build()
        limited = out.subscribe("ws", message_rate=MessageRate(2, 60, "close"))
        free = out.subscribe("ws")
        for i in range(6):
            await out.write(msgs(b"m%d" % i))
        assert list(limited.buffer) == [b"m0", b"m2"]
        assert list(free.buffer) == [b"m1", b"m3", b"m4", b"m5"]
        # Neither dropped nor closed: in round_robin, `action` never applies.
        assert (out.stats["rate_dropped"], out.stats["rate_closed"], limited.closing) == (0, 0, None)

    run(main())


def test_round_robin_splits_a_batch_and_waits_for_room_rather_than_lose_a_message(run) -> None:
    async def main() -> None:
        out = build()
        only = out.subscribe("stream", message_rate=MessageRate(3, 60))
        writing = asyncio.ensure_future(out.write(msgs(b"a", b"b", b"c", b"d", b"e")))
        await asyncio.sleep(0.05)
        assert not writing.done() and out.take(only) == [b"a\n", b"b\n", b"c\n"]  # what fits now
        other = out.subscribe("stream")  # a subscriber with room takes the rest
        await asyncio.wait_for(writing, 5)
        assert out.take(other) == [b"d\n", b"e\n"]

        # Alone and over its rate, a subscriber gets the rest when its window has room again.
        out = build()
        quick = out.subscribe("stream", message_rate=MessageRate(2, 0.2))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(out.write(msgs(*(b"%d" % i for i in range(5)))), 5)
        assert loop.time() - started >= 0.4 - 0.01  # two full windows had to pass for the last one
        assert out.take(quick) == [b"%d\n" % i for i in range(5)] and out.stats["rate_dropped"] == 0

    run(main())
