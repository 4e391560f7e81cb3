"""The `zmq4` output: messages to a ZeroMQ PUSH or PUB socket; a batch is sent as one multipart message."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register
from .._zmq import expand_urls, open_socket, urls_field

SOCKET_TYPES = ("PUSH", "PUB")


class Zmq4Output(Output):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.urls = expand_urls(conf["urls"])
        self.binding = conf["bind"]
        self.socket_type = conf["socket_type"].upper()
        if self.socket_type not in SOCKET_TYPES:
            raise ValueError(f'socket_type "{conf["socket_type"]}" is not one of: {", ".join(SOCKET_TYPES)}')
        self.hwm = conf["high_water_mark"]
        if self.hwm < 0:
            raise ValueError(f"high_water_mark must not be negative, got {self.hwm}")
        self.poll_timeout = conf["poll_timeout"]
        self.sock: Any = None

    def _setup(self, sock: Any) -> None:
        import zmq

        sock.setsockopt(zmq.SNDHWM, self.hwm)

    async def connect(self) -> None:
        import zmq

        kind = zmq.PUSH if self.socket_type == "PUSH" else zmq.PUB
        self.sock = open_socket(kind, self.urls, self.binding, self._setup)
        self.log.info("%s: %s socket %s %s", self.where, self.socket_type, "bound to" if self.binding else "connected to",
                      ", ".join(self.urls))

    async def write(self, batch: Batch) -> None:
        import zmq

        if not batch:
            return
        sock = self.sock
        assert sock is not None, "zmq4 output used before connect()"
        # As Bento: wait up to poll_timeout for room (a PUSH socket has none without a peer, or at its
        # high water mark), then fail the batch (nack) rather than block forever.
        timeout_ms = int(self.poll_timeout * 1000) if self.poll_timeout else None
        ready = await sock.poll(timeout_ms, zmq.POLLOUT)
        if not ready & zmq.POLLOUT:
            raise TimeoutError(f"{self.socket_type} socket on {', '.join(self.urls)} not ready to send after "
                               f"{self.poll_timeout:g}s (no peer connected, or its high water mark reached)")
        try:
            await sock.send_multipart([m.raw for m in batch], flags=zmq.NOBLOCK)
        except zmq.Again:
            raise TimeoutError(f"{self.socket_type} socket on {', '.join(self.urls)} refused the message "
                               f"(high water mark reached)") from None

    async def close(self) -> None:
        if self.sock is not None:
            sock, self.sock = self.sock, None
            sock.close(0)


register(s.ComponentSpec(
    name="zmq4", kind="output", category="network",
    summary="Writes messages to a ZeroMQ socket.",
    description=(
        "A batch is sent as one multipart ZeroMQ message, one part per message (a `zmq4` input receiving it gets "
        "the batch back).\n\n"
        "A write waits up to `poll_timeout` for the socket to take the message: a PUSH socket without a "
        "connected peer (or at its high water mark) fails the write after that, and the batch is nacked. A PUB "
        "socket never waits: ZeroMQ drops what no subscriber wants, so a message written to it counts as "
        "delivered. ZeroMQ connects in the background and reconnects by itself; a `bind` to an address in use or "
        "a malformed URL fails the stream at start with the URL in the error."),
    config=s.obj(
        "zmq4", "",
        urls_field("tcp://localhost:5556"),
        s.boolean("bind", "Whether to bind to the specified URLs (otherwise they are connected to).", True),
        s.string("socket_type", "The socket type to connect as.", options=SOCKET_TYPES),
        s.integer("high_water_mark", "The message high water mark to use (0: no limit).", 0, advanced=True),
        s.duration("poll_timeout", "How long a write waits for the socket to be ready to send.", "5s",
                   advanced=True),
    ),
    factory=lambda conf, ctx: Zmq4Output(conf),
    examples=("output:\n  zmq4:\n    urls: [tcp://*:5556]\n    socket_type: PUB",),
))
