"""The broadcast client harness's counting: what it times is the first and last message, not other frames."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.broadcast import client


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def _subscriber(latency: bool = False) -> tuple[client.Subscriber, client.Shared, FakeTransport]:
    loop = asyncio.new_event_loop()
    try:
        handshake: asyncio.Future[None] = loop.create_future()
        handshake.set_result(None)
    finally:
        loop.close()
    shared = client.Shared(latency)
    sub = client.Subscriber(shared, handshake)
    transport = FakeTransport()
    sub.connection_made(transport)
    return sub, shared, transport


def _frame(opcode: int, payload: bytes) -> bytes:
    return bytes([0x80 | opcode, len(payload)]) + payload


def test_a_ping_before_the_first_message_is_answered_and_not_timed(monkeypatch: Any) -> None:
    clock = iter([1_000, 5_000, 9_000])
    monkeypatch.setattr(client, "_now", lambda: next(clock))
    sub, shared, transport = _subscriber()
    sub.data_received(_frame(9, b""))  # the server's ping as the connection opens
    assert shared.first_ns == 0 and shared.count == 0
    assert transport.written == [bytes([0x8A, 0x80]) + b"\0\0\0\0"]  # answered with a masked pong
    sub.data_received(_frame(2, b'{"t":1}'))
    sub.data_received(_frame(2, b'{"t":2}') + _frame(2, b'{"t":3}'))
    assert (shared.first_ns, shared.last_ns, shared.count, sub.count) == (5_000, 9_000, 3, 3)


def test_frames_split_across_reads_are_counted_once_whole() -> None:
    sub, shared, _ = _subscriber()
    data = _frame(1, b'{"t":1}') + _frame(1, b'{"t":2}')
    for i in range(len(data)):
        sub.data_received(data[i:i + 1])
    assert shared.count == 2 and sub.buf == b""
