"""The `nats` input: core NATS subscription to a subject (wildcards allowed), optionally in a queue group.

Core NATS has no acknowledgements and no redelivery: a message is the subscriber's once it arrives.
A failed delivery is re-sent by the runtime from memory (`supports_nack` is False); a message sent as
a request (with a reply subject) is answered `+ACK` once delivered when `send_ack` is on (Bento).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ... import spec as s
from ...component import AckFn, Input, noop_ack
from ...message import Batch, Message
from ...registry import register
from .._nats import Connection, connection_fields, message_meta, security_fields, split_urls

QUEUE_SIZE = 256


class NatsInput(Input):
    supports_nack = False

    def __init__(self, conf: dict[str, Any]) -> None:
        split_urls(conf["urls"])
        if not str(conf["subject"]).strip():
            raise ValueError("subject: a subject is required")
        self.conf = conf
        self.subject = str(conf["subject"]).strip()
        self.queue_group = conf.get("queue") or ""
        self.send_ack = bool(conf["send_ack"])
        self.prefetch = max(1, int(conf["prefetch_count"]))
        self.conn: Connection | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self._getter: asyncio.Future[Any] | None = None
        self._closed_watch: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        self.conn = Connection(self.conf, self.where, self.log)
        self.conn.on_reconnect.append(self._subscribe)
        nc = await self.conn.connect()
        try:
            await self._subscribe(nc)
        except Exception as exc:  # noqa: BLE001
            raise ConnectionError(f"{self.where}: cannot subscribe to {self.subject!r}: {exc}") from exc

    async def _subscribe(self, nc: Any) -> None:
        await nc.subscribe(self.subject, queue=self.queue_group, cb=self._queue.put,
                           pending_msgs_limit=self.prefetch)

    async def read(self) -> tuple[Batch, AckFn]:
        conn = self.conn
        assert conn is not None, "read before connect"
        while True:
            if self._getter is None and not self._queue.empty():
                return self._message(self._queue.get_nowait())
            nc = await conn.ensure()
            if self._getter is None:
                self._getter = asyncio.ensure_future(self._queue.get())
            closed = asyncio.ensure_future(conn.closed.wait())
            try:
                await asyncio.wait((self._getter, closed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
            if self._getter.done():
                getter, self._getter = self._getter, None
                return self._message(getter.result(), nc)

    def _message(self, raw: Any, nc: Any = None) -> tuple[Batch, AckFn]:
        return [Message(raw.data, message_meta(raw))], self._acker(nc or self.conn.nc, raw)  # type: ignore[union-attr]

    def _acker(self, nc: Any, raw: Any) -> AckFn:
        if not (self.send_ack and raw.reply):
            return noop_ack
        reply = raw.reply

        async def ack(error: BaseException | None) -> None:
            if error is None and nc is not None and not nc.is_closed:
                try:
                    await nc.publish(reply, b"+ACK")
                except Exception as exc:  # noqa: BLE001 - an answer lost is the requester's timeout
                    self.log.debug("%s: could not answer %s: %s", self.where, reply, exc)

        return ack

    async def close(self) -> None:
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None
        if self.conn is not None:
            await self.conn.close()


register(s.ComponentSpec(
    name="nats", kind="input", category="services",
    summary="Subscribe to a NATS subject.",
    description=(
        "Core NATS: at most once from the server's side (no acknowledgements, no redelivery). Once a message "
        "arrived it is kept in memory until delivered downstream (a failed delivery is retried). Use "
        "`nats_jetstream` for durable, acknowledged consumption.\n\n"
        "A wrong address fails the stream at start, naming the addresses tried. A server that goes away "
        "later is reconnected to (logged once when lost and once when back) and the subscription restored.\n\n"
        "### Metadata\n\nThis input adds the following metadata fields to each message: `nats_subject`, "
        "`nats_reply_subject` (when the message has one), and all message headers."),
    config=s.obj(
        "nats", "",
        *connection_fields(),
        s.string("subject", "A subject to consume from. Supports wildcards for consuming multiple subjects. "
                 "Either a subject or stream must be specified.", examples=("foo.bar.baz", "foo.*.baz",
                                                                             "foo.bar.*", "foo.>")),
        s.string("queue", "An optional queue group to consume as.", None),
        s.boolean("send_ack", "Control whether ACKS are sent as a reply to each message. When enabled, these "
                  "replies are sent only once the data has been delivered to all outputs.", True),
        s.unsupported("auto_replay_nacks", "Whether nacked messages are replayed. AsyncGate always replays "
                                           "them (with backoff) until delivered."),
        s.unsupported("nak_delay", "A delay before redelivery of a nacked message (JetStream-only semantics)."),
        s.integer("prefetch_count", "The maximum number of messages to pull at a time.", 524288, advanced=True),
        *security_fields(),
        s.unsupported("extract_tracing_map", "EXPERIMENTAL: tracing context from each message."),
    ),
    factory=lambda conf, ctx: NatsInput(conf),
    examples=("input:\n  nats:\n    urls: [nats://127.0.0.1:4222]\n    subject: orders.>\n    queue: gateway",),
))
