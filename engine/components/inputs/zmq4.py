"""The `zmq4` input: messages from a ZeroMQ PULL or SUB socket; a multipart ZeroMQ message is a batch."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import AckFn, Input, noop_ack
from ...message import Batch, new_batch
from ...registry import register
from .._zmq import expand_urls, open_socket, urls_field

SOCKET_TYPES = ("PULL", "SUB")


class Zmq4Input(Input):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.urls = expand_urls(conf["urls"])
        self.binding = conf["bind"]
        self.socket_type = conf["socket_type"].upper()
        if self.socket_type not in SOCKET_TYPES:
            raise ValueError(f'socket_type "{conf["socket_type"]}" is not one of: {", ".join(SOCKET_TYPES)}')
        self.sub_filters: list[str] = [str(f) for f in conf["sub_filters"]]
        if self.socket_type == "SUB" and not self.sub_filters:
            raise ValueError("a SUB socket needs at least one entry in sub_filters ('' subscribes to everything)")
        self.hwm = conf["high_water_mark"]
        if self.hwm < 0:
            raise ValueError(f"high_water_mark must not be negative, got {self.hwm}")
        self.sock: Any = None

    def _setup(self, sock: Any) -> None:
        import zmq

        sock.setsockopt(zmq.RCVHWM, self.hwm)
        if self.socket_type == "SUB":
            for topic in self.sub_filters:
                sock.setsockopt(zmq.SUBSCRIBE, topic.encode())

    async def connect(self) -> None:
        import zmq

        kind = zmq.PULL if self.socket_type == "PULL" else zmq.SUB
        self.sock = open_socket(kind, self.urls, self.binding, self._setup)
        self.log.info("%s: %s socket %s %s", self.where, self.socket_type, "bound to" if self.binding else "connected to",
                      ", ".join(self.urls))

    async def read(self) -> tuple[Batch, AckFn]:
        # Cancelling this (on shutdown) leaves an unreceived message in the socket's queue: nothing is lost.
        parts = await self.sock.recv_multipart(copy=True)
        return new_batch(parts), noop_ack

    async def close(self) -> None:
        if self.sock is not None:
            sock, self.sock = self.sock, None
            sock.close(0)


register(s.ComponentSpec(
    name="zmq4", kind="input", category="network",
    summary="Consumes messages from a ZeroMQ socket.",
    description=(
        "Each part of a multipart ZeroMQ message is a message, and the parts of one ZeroMQ message make one "
        "batch.\n\n"
        "ZeroMQ connects in the background: a `connect` to an address where nothing listens yet is not an "
        "error, ZeroMQ keeps retrying (and reconnects after the peer restarts) by itself. A `bind` to an address "
        "in use, or a malformed URL, fails the stream at start with the URL in the error.\n\n"
        "ZeroMQ cannot redeliver: a nacked batch is re-sent by AsyncGate until delivered. The socket is read "
        "with asyncio (no polling thread), so `poll_timeout` has nothing to do and is accepted for "
        "compatibility."),
    config=s.obj(
        "zmq4", "",
        urls_field("tcp://localhost:5555"),
        s.boolean("bind", "Whether to bind to the specified URLs (otherwise they are connected to).", False),
        s.string("socket_type", "The socket type to connect as.", options=SOCKET_TYPES),
        s.Field("sub_filters", "string", "A list of subscription topic filters to use when consuming from a SUB "
                                         "socket. Specifying a single sub_filter of `''` will subscribe to "
                                         "everything.", default=[], kind="list"),
        s.integer("high_water_mark", "The message high water mark to use (0: no limit).", 0, advanced=True),
        s.duration("poll_timeout", "The poll timeout to use (accepted for compatibility; reads are event driven).",
                   "5s", advanced=True),
    ),
    factory=lambda conf, ctx: Zmq4Input(conf),
    examples=("input:\n  zmq4:\n    urls: [tcp://localhost:5555]\n    socket_type: PULL",
              "input:\n  zmq4:\n    urls: [tcp://localhost:5556]\n    socket_type: SUB\n    sub_filters: [orders.]"),
))
