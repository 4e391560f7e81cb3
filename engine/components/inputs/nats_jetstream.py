"""The `nats_jetstream` input: a JetStream push consumer (durable, queue-grouped, bound, or ephemeral).

Each message is acknowledged to JetStream only once it was delivered downstream; a failed delivery is
negatively acknowledged (`nak`, with a delay growing with the delivery count) so the server redelivers
it, and a message neither acked nor nacked (process gone, connection lost) is redelivered by the server
after `ack_wait`. A durable consumer keeps its position across restarts of AsyncGate and of the server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.js import api
from nats.js.errors import NotFoundError

from ... import spec as s
from ...component import AckFn, Input, PartialDelivery
from ...message import Batch, Message
from ...registry import register
from .._nats import Connection, connection_fields, describe, message_meta, security_fields, split_urls

DELIVER = {"all": api.DeliverPolicy.ALL, "last": api.DeliverPolicy.LAST, "new": api.DeliverPolicy.NEW,
           "last_per_subject": api.DeliverPolicy.LAST_PER_SUBJECT}
QUEUE_SIZE = 256
NAK_DELAY_START = 0.1
NAK_DELAY_MAX = 10.0


class NatsJetStreamInput(Input):
    supports_nack = True

    def __init__(self, conf: dict[str, Any]) -> None:
        split_urls(conf["urls"])
        self.conf = conf
        self.subject = (conf.get("subject") or "").strip()
        self.queue_group = conf.get("queue") or None
        self.durable = conf.get("durable") or None
        self.stream = conf.get("stream") or None
        self.bind_existing = bool(conf.get("bind"))
        self.deliver = DELIVER[conf["deliver"]]
        self.ack_wait = float(conf["ack_wait"])
        self.max_ack_pending = int(conf["max_ack_pending"])
        self.create_stream = bool(conf["create_stream"])
        if not self.subject and not self.stream:
            raise ValueError("either subject or stream must be specified")
        if self.bind_existing and not (self.stream and (self.durable or self.queue_group)):
            raise ValueError("bind: needs stream and durable (the existing consumer to bind to)")
        if self.create_stream and not (self.stream and self.subject):
            raise ValueError("create_stream: needs stream and subject")
        if self.ack_wait <= 0:
            raise ValueError("ack_wait: must be positive")
        self.conn: Connection | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self._getter: asyncio.Future[Any] | None = None
        self.consumer = ""

    async def connect(self) -> None:
        self.conn = Connection(self.conf, self.where, self.log)
        self.conn.on_reconnect.append(self._subscribe)
        nc = await self.conn.connect()
        await self._subscribe(nc)

    async def _subscribe(self, nc: Any) -> None:
        js = nc.jetstream()
        try:
            stream = self.stream
            if self.create_stream:
                try:
                    await js.stream_info(stream)
                except NotFoundError:
                    await js.add_stream(name=stream, subjects=[self.subject])
            if not stream:
                try:
                    stream = await js.find_stream_name_by_subject(self.subject)
                except NotFoundError:
                    raise ConnectionError(f'no JetStream stream holds subject "{self.subject}"') from None
            durable = self.durable or self.queue_group
            config = None
            if durable:
                try:
                    info = await js.consumer_info(stream, durable)
                    config = info.config
                except NotFoundError:
                    if self.bind_existing:
                        raise ConnectionError(f'bind: no consumer "{durable}" on stream "{stream}"') from None
                if config is not None and not config.deliver_subject:
                    raise ConnectionError(f'consumer "{durable}" on stream "{stream}" is a pull consumer; '
                                          "this input needs a push consumer (with a deliver subject)")
            if config is None:
                wanted = api.ConsumerConfig(
                    durable_name=durable, deliver_subject=nc.new_inbox(), deliver_group=self.queue_group,
                    ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                    max_ack_pending=self.max_ack_pending, deliver_policy=self.deliver,
                    filter_subject=self.subject or None,
                )
                info = await js.add_consumer(stream, config=wanted)
                config = info.config
                durable = info.name
            await js.subscribe_bind(stream=stream, config=config, consumer=durable, cb=self._queue.put,
                                    manual_ack=True, pending_msgs_limit=max(self.max_ack_pending, 1024) * 2)
        except ConnectionError as exc:
            raise ConnectionError(f"{self.where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - named, with the stream/subject it was about
            what = f"stream {stream!r}" if stream else f"subject {self.subject!r}"
            raise ConnectionError(f"{self.where}: cannot consume from JetStream {what}: {describe(exc)}") from exc
        self.consumer = durable or ""

    async def read(self) -> tuple[Batch, AckFn]:
        conn = self.conn
        assert conn is not None, "read before connect"
        while True:
            if self._getter is None and not self._queue.empty():
                return self._message(self._queue.get_nowait())
            await conn.ensure()
            if self._getter is None:
                self._getter = asyncio.ensure_future(self._queue.get())
            closed = asyncio.ensure_future(conn.closed.wait())
            try:
                await asyncio.wait((self._getter, closed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
            if self._getter.done():
                getter, self._getter = self._getter, None
                return self._message(getter.result())

    def _message(self, raw: Any) -> tuple[Batch, AckFn]:
        meta = message_meta(raw)
        meta.update(jetstream_meta(raw.reply))
        msg = Message(raw.data, meta)
        return [msg], self._acker(raw, msg)

    def _acker(self, raw: Any, msg: Message) -> AckFn:
        settled = False

        async def ack(error: BaseException | None) -> None:
            nonlocal settled
            if settled:
                return
            if isinstance(error, PartialDelivery):
                located = error.locate([msg])
                if located is not None and not located:
                    error = None
            settled = True
            try:
                if error is None:
                    await raw.ack()
                else:
                    delivered = int(msg.meta.get("nats_num_delivered") or 1) if msg.has_meta else 1
                    delay = min(NAK_DELAY_START * 2 ** max(delivered - 1, 0), NAK_DELAY_MAX)
                    await raw.nak(delay=delay)
            except Exception as exc:  # noqa: BLE001 - the server redelivers after ack_wait
                self.log.debug("%s: could not settle a JetStream message (redelivered after ack_wait): %s",
                               self.where, exc)

        return ack

    async def close(self) -> None:
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None
        if self.conn is not None:
            await self.conn.close()


def jetstream_meta(reply: str | None) -> dict[str, str]:
    """Bento's JetStream metadata, from the ack subject `$JS.ACK.[domain.hash.]stream.consumer.delivered.
    stream_seq.consumer_seq.timestamp_ns.pending[.token]`; as strings, as Bento sets them."""
    if not reply or not reply.startswith("$JS.ACK."):
        return {}
    tokens = reply.split(".")
    if len(tokens) == 9:
        domain, rest = "", tokens[4:]
    elif len(tokens) >= 11:
        domain, rest = ("" if tokens[2] == "_" else tokens[2]), tokens[6:]
    else:
        return {}
    delivered, stream_seq, consumer_seq, timestamp, pending = rest[:5]
    return {"nats_sequence_stream": stream_seq, "nats_sequence_consumer": consumer_seq,
            "nats_num_delivered": delivered, "nats_num_pending": pending, "nats_domain": domain,
            "nats_timestamp_unix_nano": timestamp}


register(s.ComponentSpec(
    name="nats_jetstream", kind="input", category="services",
    summary="Reads messages from NATS JetStream subjects.",
    description=(
        "Consumes through a JetStream push consumer: a durable one (`durable`, kept across restarts), a "
        "queue-grouped one (`queue`, shared by every instance in the group; its name is `durable`, or the "
        "queue name), an existing one (`bind`), or else an ephemeral one.\n\n"
        "Each message is acknowledged only once delivered downstream; a failed delivery is nacked so the "
        "server redelivers it (after a delay growing with its delivery count), and one never settled is "
        "redelivered after `ack_wait`. At most `max_ack_pending` messages are in flight unacknowledged.\n\n"
        "A wrong address, a missing stream or an unknown consumer fail the stream at start with a clear "
        "error. A server that goes away later is reconnected to (logged once when lost and once when back) "
        "and a durable consumer resumes where it was (use one where that matters: an ephemeral consumer "
        "lives only as long as the server keeps it).\n\n"
        "### Metadata\n\nThis input adds the following metadata fields to each message: `nats_subject`, "
        "`nats_sequence_stream`, `nats_sequence_consumer`, `nats_num_delivered`, `nats_num_pending`, "
        "`nats_domain`, `nats_timestamp_unix_nano`, and all message headers."),
    config=s.obj(
        "nats_jetstream", "",
        *connection_fields(),
        s.string("queue", "An optional queue group to consume as.", None),
        s.string("subject", "A subject to consume from. Supports wildcards for consuming multiple subjects. "
                 "Either a subject or stream must be specified.", None, examples=("foo.bar.baz", "foo.*.baz",
                                                                                   "foo.bar.*", "foo.>")),
        s.string("durable", "Preserve the state of your consumer under a durable name.", None),
        s.string("stream", "A stream to consume from. Either a subject or stream must be specified.", None),
        s.boolean("bind", "Indicates that the subscription should use an existing consumer.", None),
        s.boolean("create_stream", "Create `stream` (capturing `subject`) when it does not exist.", False,
                  advanced=True),
        s.string("deliver", "Determines which messages to deliver when consuming without a durable "
                 "subscriber.", "all", options=tuple(DELIVER)),
        s.duration("ack_wait", "The maximum amount of time NATS server should wait for an ack from "
                   "consumer.", "30s", advanced=True, examples=("100ms", "5m")),
        s.integer("max_ack_pending", "The maximum number of outstanding acks to be allowed before "
                  "consuming is halted.", 1024, advanced=True),
        *security_fields(),
        s.unsupported("extract_tracing_map", "EXPERIMENTAL: tracing context from each message."),
    ),
    factory=lambda conf, ctx: NatsJetStreamInput(conf),
    examples=("input:\n  nats_jetstream:\n    urls: [nats://127.0.0.1:4222]\n    subject: orders.>\n"
              "    durable: gateway\n    deliver: all",),
))
