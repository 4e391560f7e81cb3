"""Serving a config's http_server endpoints on a real socket (127.0.0.1, a free port) inside a test."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from engine.message import Message
from engine.runtime.manager import Manager
from engine.serve_http import prepare_http
from tests.helpers import load

HTTP = "http:\n  address: 127.0.0.1:0\n"


class Served:
    def __init__(self, manager: Manager, address: str) -> None:
        self.manager = manager
        self.address = address
        self.http = f"http://{address}"
        self.ws = f"ws://{address}"

    def component(self, kind: str = "output") -> Any:
        """The (first) stream's input or output component, unwrapped."""
        stream = next(iter(self.manager.streams.values()))
        if kind == "output":
            return stream.output.output
        component = stream.input
        while hasattr(component, "inner"):
            component = component.inner
        return component

    async def feed(self, *payloads: bytes | str, pipe: str = "in") -> None:
        """Send each payload (a batch of one) through `inproc: PIPE`, waiting for its delivery."""
        for payload in payloads:
            await self.manager.hub.send(pipe, [Message(payload.encode() if isinstance(payload, str) else payload)])

    async def feed_batch(self, *payloads: bytes, pipe: str = "in") -> None:
        await self.manager.hub.send(pipe, [Message(p) for p in payloads])


@contextlib.asynccontextmanager
async def serving(yaml_text: str) -> AsyncIterator[Served]:
    """Build and run the config (with http.address 127.0.0.1:0 added), serving its endpoints."""
    manager = Manager(load(HTTP + yaml_text))
    manager.build()
    service = prepare_http(manager)
    assert service is not None, "the config serves no endpoint"
    running = asyncio.ensure_future(service.run_while(manager.run(), stop=manager.stop))
    try:
        yield Served(manager, service.address)
    finally:
        manager.stop()
        await asyncio.wait_for(running, 15)


async def until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll CONDITION (every 5ms) until it is truthy; fail after TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def small_receive_buffer_socket(address: str, size: int = 4096) -> socket.socket:
    """A connected client socket with a small receive buffer, so a client that does not read
    pushes back on the server quickly."""
    host, port = address.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock
