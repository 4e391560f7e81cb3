"""The client harness of the broadcast scenario: N WebSocket subscribers in one process, on raw asyncio
sockets (uvloop) rather than the `websockets` library, so that the client stays far cheaper than any
server it measures (it shares this machine's cores with the server: every cycle it spends is one the
server does not get). The handshake offers no extension (no permessage-deflate), frames are parsed in
bulk per received chunk.

    python -m benchmarks.broadcast.client --port P --path /ws --connections N [--latency]

Talks to the controller over stdin/stdout, one line each way:
  -> "connected"            once every handshake is done (101)
  -> "progress <count>"     messages received so far (every 20 ms while it changes)
  <- "report"               prints one JSON line and exits: count, first/last receive time (ns),
                            per-connection min/max counts, close codes seen, CPU seconds spent
                            between the first and the last delivery, and with --latency the
                            latencies (receive time − the payload's send timestamp `{"t":NANOS}`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from typing import Any

_now = time.time_ns
_cpu = time.process_time


class Subscriber(asyncio.Protocol):
    def __init__(self, shared: Shared, handshake: asyncio.Future[None]) -> None:
        self.shared = shared
        self.handshake = handshake
        self.head = b""
        self.buf = b""
        self.count = 0
        self.close_code: int | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self.head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self.handshake.set_exception(ConnectionError(f"handshake refused: {status!r}"))
                return
            data = self.head[end + 4:]
            self.handshake.set_result(None)
            if not data:
                return
        shared = self.shared
        now = _now()
        buf = self.buf + data if self.buf else data
        n = len(buf)
        i = 0
        got = 0
        lat = shared.latencies
        while n - i >= 2:
            length = buf[i + 1] & 0x7F
            if length < 126:
                start = i + 2
            elif length == 126:
                if n - i < 4:
                    break
                length = int.from_bytes(buf[i + 2:i + 4], "big")
                start = i + 4
            else:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2:i + 10], "big")
                start = i + 10
            end = start + length
            if end > n:
                break
            opcode = buf[i] & 0x0F
            if opcode in (1, 2):
                got += 1
                if lat is not None:
                    lat.append(now - int(buf[start + 5:end - 1]))  # {"t":NANOS}
            elif opcode == 8:
                self.close_code = int.from_bytes(buf[start:start + 2], "big") if length >= 2 else 1005
                shared.closes[str(self.close_code)] = shared.closes.get(str(self.close_code), 0) + 1
            elif opcode == 9:  # ping: a masked pong with the same payload (mask 0 leaves it as is)
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + buf[start:end])
            i = end
        self.buf = buf[i:] if i < n else b""
        if got:
            self.count += got
            shared.count += got
            shared.last_ns = now
            shared.last_cpu = _cpu()
            if shared.first_ns == 0:
                # The first message, not the first bytes: a server may ping a connection as it opens (the
                # gateway does), long before anything is produced.
                shared.first_ns = now
                shared.first_cpu = shared.last_cpu

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("connection closed during the handshake"))


class Shared:
    def __init__(self, latency: bool) -> None:
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0
        self.first_cpu = 0.0
        self.last_cpu = 0.0
        self.closes: dict[str, int] = {}
        self.latencies: list[int] | None = [] if latency else None


def _request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    shared = Shared(args.latency)
    subs: list[Subscriber] = []

    async def connect() -> None:
        done = loop.create_future()
        transport, proto = await loop.create_connection(lambda: Subscriber(shared, done), args.host, args.port)
        subs.append(proto)
        transport.write(_request(args.host, args.port, args.path))
        await asyncio.wait_for(done, 30)

    # Connect in waves, so that a server's listen backlog is never the limit.
    for first in range(0, args.connections, 100):
        await asyncio.gather(*(connect() for _ in range(first, min(args.connections, first + 100))))
    out = sys.stdout
    out.write("connected\n")
    out.flush()

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    command = asyncio.ensure_future(reader.readline())
    reported = -1
    while not command.done():
        if shared.count != reported:
            reported = shared.count
            out.write(f"progress {reported}\n")
            out.flush()
        await asyncio.wait((command,), timeout=0.02)
    counts = [s.count for s in subs]
    result: dict[str, Any] = {
        "count": shared.count, "first_ns": shared.first_ns, "last_ns": shared.last_ns,
        "connections": len(subs), "per_connection": {"min": min(counts), "max": max(counts)},
        "closes": shared.closes, "cpu_seconds": shared.last_cpu - shared.first_cpu,
    }
    if shared.latencies is not None:
        lat = sorted(shared.latencies)
        result["latency_ns"] = {"p50": percentile(lat, 0.50), "p99": percentile(lat, 0.99),
                                "max": lat[-1] if lat else 0, "samples": len(lat)}
    out.write(json.dumps(result) + "\n")
    out.flush()
    for s in subs:
        if s.transport is not None:
            s.transport.abort()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--latency", action="store_true", help="record the latency of every message")
    import uvloop

    uvloop.run(main(parser.parse_args()))
