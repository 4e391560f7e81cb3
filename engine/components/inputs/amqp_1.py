"""The `amqp_1` input: receives messages from an AMQP 1.0 source address (python-qpid-proton).

Proton runs in its own thread (engine/components/_amqp1.py). A message is accepted (settled) only
once the stream's output delivered it; a failed delivery releases it, so the broker redelivers it.
`credit` bounds the unsettled messages: one credit is given back each time a message is settled.
A lost connection is re-opened with backoff (unsettled messages return to the broker's queue),
logging each change of state once.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from proton.handlers import MessagingHandler

from ... import spec as s
from ...component import AckFn, Input
from ...message import Batch, Message
from ...registry import register
from .._amqp1 import (
    Backoff,
    LinkHandler,
    ProtonLink,
    metadata_value,
    sasl_field,
    sasl_settings,
    split_urls,
    tls_field,
    urls_field,
)

NACK_DELAY_START = 0.02
NACK_DELAY_MAX = 2.0


class _Receiver(LinkHandler, MessagingHandler):
    role = "source"

    def __init__(self, owner: Amqp1Input, urls: list[str], address: str, sasl: dict[str, Any]) -> None:
        MessagingHandler.__init__(self, prefetch=0, auto_accept=False)
        LinkHandler.__init__(self, owner, urls, address, sasl)

    def make_link(self, container: Any, conn: Any) -> Any:
        link = container.create_receiver(conn, self.address)
        link.flow(self.owner.credit)
        return link

    def remote_terminus_ok(self, link: Any) -> bool:
        return link.remote_source is not None and link.remote_source.address is not None

    def on_message(self, event: Any) -> None:
        if not self.current(event):
            return
        self.thread.to_loop(self.owner.deliver, self.generation, event.message, event.delivery)  # type: ignore[union-attr]

    def settle(self, generation: int, delivery: Any, state: Any) -> bool:
        if generation != self.generation or self.link is None:
            return False  # the connection it came on is gone: the broker has it back already
        delivery.update(state)
        delivery.settle()
        self.link.flow(1)
        return True


class Amqp1Input(ProtonLink, Input):
    supports_nack = True

    ROLE = "source"
    VERB = "receive from"

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.urls = split_urls(conf["urls"])
        self.source = str(conf["source_address"] or "")
        if not self.source:
            raise ValueError("source_address: required")
        self.credit = int(conf["credit"])
        if self.credit < 1:
            raise ValueError("credit: must be at least 1")
        self.read_header = bool(conf["read_header"])
        self.sasl = sasl_settings(conf["sasl"])
        self._deliveries: asyncio.Queue[Any] = asyncio.Queue()
        self._handler: _Receiver | None = None
        self._closing = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._nack_streak = 0

    def terminus(self) -> str:
        return self.source

    def new_handler(self) -> _Receiver:
        return _Receiver(self, self.urls, self.source, self.sasl)

    def lost(self, generation: int, text: str) -> None:
        """From the reactor: the connection of GENERATION went away."""
        if self._closing:
            return
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.ensure_future(self._reconnect(text))

    async def _reconnect(self, error: str) -> None:
        self.state.lost(error)
        backoff = Backoff()
        while not self._closing:
            await asyncio.sleep(backoff.next())
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged once per distinct error, retried
                self.state.lost(exc)
                continue
            self.state.connected()
            return

    # -- reading -------------------------------------------------------------
    def deliver(self, generation: int, message: Any, delivery: Any) -> None:
        self._deliveries.put_nowait((generation, message, delivery))

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            generation, message, delivery = await self._deliveries.get()
            if generation != self._handler.generation:  # type: ignore[union-attr]
                continue  # its connection is gone: the broker redelivers it
            return [Message(_body(message.body), self._metadata(message))], self._settler(generation, delivery)

    def _metadata(self, message: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for key, value in (message.annotations or {}).items():
            if isinstance(value, str):  # Bento: every string-typed message annotation
                meta[str(key)] = str(value)
        for key, value in (message.properties or {}).items():
            meta[str(key)] = metadata_value(value)
        for name, value in (("amqp_content_type", message.content_type),
                            ("amqp_content_encoding", message.content_encoding)):
            if value is not None and str(value) not in ("", "None"):  # proton gives symbol("None") for unset
                meta[name] = str(value)
        if message.creation_time:
            stamp = datetime.datetime.fromtimestamp(message.creation_time, datetime.UTC)
            meta["amqp_creation_time"] = stamp.isoformat().replace("+00:00", "Z")
        if self.read_header:
            meta["amqp_durable"] = bool(message.durable)
            meta["amqp_priority"] = int(message.priority)
            meta["amqp_ttl"] = int(message.ttl * 1000) if message.ttl else 0
            meta["amqp_first_acquirer"] = bool(message.first_acquirer)
            meta["amqp_delivery_count"] = int(message.delivery_count)
        return meta

    def _settler(self, generation: int, delivery: Any) -> AckFn:
        from proton import Delivery

        settled = False

        async def settle(error: BaseException | None) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            if error is None:
                self._nack_streak = 0
                state = Delivery.ACCEPTED
            else:
                # A released message comes straight back: pace repeated failures.
                delay = min(NACK_DELAY_START * (2 ** self._nack_streak), NACK_DELAY_MAX)
                self._nack_streak += 1
                await asyncio.sleep(delay)
                state = Delivery.RELEASED
            handler = self._handler
            try:
                done = await self._thread.call(lambda: handler.settle(generation, delivery, state))  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - an unsettled message is redelivered by the broker
                self.log.warning("%s: could not settle a message (the broker redelivers it): %s", self.where, exc)
                return
            if not done:
                self.log.debug("%s: connection gone before settling a message; the broker redelivers it",
                               self.where)

        return settle

    async def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._thread is not None:
            await self._thread.stop()
            self._thread = None


def _body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    import json

    return json.dumps(metadata_value(body), default=str).encode()


register(s.ComponentSpec(
    name="amqp_1", kind="input", category="services",
    summary="Reads messages from an AMQP (1.0) server.",
    description=(
        "Each message is accepted only once the output delivered it; a failed delivery releases it so the "
        "broker redelivers it. At most `credit` messages are unsettled at once.\n\n"
        "The stream fails to start with an error naming the broker and the address when no URL can be "
        "reached, the credentials are refused, or the broker refuses the source address. A connection lost "
        "later is re-established with backoff; unsettled messages are redelivered by the broker.\n\n"
        "With RabbitMQ 3.x (plugin `rabbitmq_amqp1_0`) an existing queue is addressed as `/amq/queue/NAME`, "
        "and `/queue/NAME` declares it.\n\n"
        "### Metadata\n\nThis input adds the following metadata fields to each message:\n\n"
        "- amqp_content_type\n- amqp_content_encoding\n- amqp_creation_time\n"
        "- All string typed message annotations\n- All application properties\n\n"
        "By setting `read_header` to true, additional message header properties are added:\n\n"
        "- amqp_durable\n- amqp_priority\n- amqp_ttl\n- amqp_first_acquirer\n- amqp_delivery_count"),
    config=s.obj(
        "amqp_1", "",
        urls_field(),
        s.string("source_address", "The source address to consume from.",
                 examples=("/foo", "queue:/bar", "topic:/baz", "/amq/queue/orders")),
        s.unsupported("azure_renew_lock", ("Azure Service Bus specific option to renew the lock when processing "
                      "takes longer than the configured lock time.")),
        s.boolean("read_header", "Read additional message header fields into `amqp_*` metadata.", False,
                  advanced=True),
        s.integer("credit", "The maximum number of unacknowledged messages the sender may send; more means "
                  "more messages processed in parallel.", 64, advanced=True),
        tls_field(),
        sasl_field(),
    ),
    factory=lambda conf, ctx: Amqp1Input(conf, ctx),
    examples=(("input:\n  amqp_1:\n    urls: [amqp://guest:guest@127.0.0.1:5672/]\n"
              "    source_address: /amq/queue/orders\n    credit: 32"),),
))
