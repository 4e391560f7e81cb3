"""The upper bound: no framework, no per-connection framing. A minimal server on uvloop that does the
WebSocket handshake by hand and then writes each message's frame, built once, straight to every client's
transport (broadcast) or to the next client's in turn (round_robin). No ASGI, no queue, no framing per
connection: what the transport itself costs.

    python -m benchmarks.broadcast.transport_bound --port P --mode broadcast|round_robin
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
from typing import Any

from .producer import parse_start, produce

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


def frame(payload: bytes, opcode: int = 2) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


class Server:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.clients: list[Any] = []
        self.rotation = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def deliver(self, p: bytes) -> None:
        data = frame(p)
        if self.mode == "broadcast":
            for transport in self.clients:
                transport.write(data)
        else:
            self.clients[self.rotation % len(self.clients)].write(data)
            self.rotation += 1

    def start(self, query: bytes) -> None:
        task = asyncio.ensure_future(produce(*parse_start(query), self.deliver))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.head = b""
        self.transport: Any = None
        self.upgraded = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            if data and data[0] & 0x0F == 8:  # the client's close frame: answer and go
                self.transport.write(b"\x88\x02\x03\xe8")
                self.transport.close()
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        lines = self.head.split(b"\r\n")
        method, target, _ = lines[0].split(b" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
        if method == b"POST" and target.startswith(b"/start"):
            self.server.start(target.partition(b"?")[2])
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nstarted\n")
            self.transport.close()
        elif headers.get(b"upgrade", b"").lower() == b"websocket":
            accept = base64.b64encode(hashlib.sha1(headers[b"sec-websocket-key"] + GUID).digest())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            self.upgraded = True
            self.server.clients.append(self.transport)
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.upgraded:
            self.server.clients.remove(self.transport)


async def serve(port: int, mode: str) -> None:
    server = Server(mode)
    srv = await asyncio.get_running_loop().create_server(lambda: Connection(server), "127.0.0.1", port, backlog=1024)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("broadcast", "round_robin"), required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.mode))
