"""The `amqp_0_9` input: consumes a queue of an AMQP 0-9-1 broker (RabbitMQ) with aio-pika.

Each message is acked only once the stream's output delivered it; a failed delivery nacks it with
requeue (or rejects it, when the error matches `nack_reject_patterns`), so the broker redelivers it.
If the connection goes away, unacked messages return to the queue on the broker's side and the
input reconnects with backoff, logging each change of state once.
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from typing import Any

from ... import spec as s
from ...component import AckFn, Input
from ...message import Batch, Message
from ...registry import register
from .._amqp import Backoff, LinkState, connect_first, header_value, safe_url, split_urls, tls_field

NACK_DELAY_START = 0.02
NACK_DELAY_MAX = 2.0


def _queue_arguments(args: dict[str, Any] | None) -> dict[str, Any] | None:
    if not args:
        return None
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)  # x-max-length, x-message-ttl... are numbers on the wire
        out[str(key)] = value
    return out


class Amqp09Input(Input):
    supports_nack = True

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.urls = split_urls(conf["urls"])
        self.queue_name = conf["queue"]
        declare = conf["queue_declare"] or {}
        self.declare = bool(declare.get("enabled", False))
        self.durable = bool(declare.get("durable", True))
        self.auto_delete = bool(declare.get("auto_delete", False))
        self.arguments = _queue_arguments(declare.get("arguments"))
        self.bindings = []
        for i, binding in enumerate(conf["bindings_declare"] or []):
            if not isinstance(binding, dict) or not binding.get("exchange"):
                raise ValueError(f"bindings_declare[{i}]: an `exchange` is required")
            self.bindings.append((str(binding["exchange"]), str(binding.get("key", ""))))
        self.consumer_tag = conf["consumer_tag"] or ""
        self.auto_ack = bool(conf["auto_ack"])
        # With auto_ack the broker forgets a message once sent: the runtime re-sends nacked ones.
        self.supports_nack = not self.auto_ack
        self.prefetch_count = int(conf["prefetch_count"])
        self.prefetch_size = int(conf["prefetch_size"])
        if self.prefetch_count < 0 or self.prefetch_size < 0:
            raise ValueError("prefetch_count and prefetch_size must not be negative")
        try:
            self.reject_patterns = [re.compile(p) for p in conf["nack_reject_patterns"] or []]
        except re.error as exc:
            raise ValueError(f"nack_reject_patterns: {exc}") from None
        self._deliveries: asyncio.Queue[Any] = asyncio.Queue()
        self._connection: Any = None
        self._generation = 0
        self._closing = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._nack_streak = 0
        self._state: LinkState | None = None

    # -- connection ----------------------------------------------------------
    @property
    def state(self) -> LinkState:
        if self._state is None:
            self._state = LinkState(self.log, self.where, ", ".join(safe_url(u) for u in self.urls))
        return self._state

    async def connect(self) -> None:
        await self._open()
        self.state.connected()

    async def _open(self) -> None:
        name = f"asyncgate {self.where} queue={self.queue_name} {uuid.uuid4().hex[:6]}"
        connection = await connect_first(self.urls, self.where, name)
        try:
            channel = await connection.channel(publisher_confirms=False)
            raw = await channel.get_underlay_channel()
            await channel.set_qos(prefetch_count=self.prefetch_count, prefetch_size=self.prefetch_size)
            try:
                if self.declare:
                    await channel.declare_queue(self.queue_name, durable=self.durable,
                                                auto_delete=self.auto_delete, arguments=self.arguments)
                else:
                    await channel.get_queue(self.queue_name, ensure=True)
            except Exception as exc:
                raise ConnectionError(f"{self.where}: queue {self.queue_name!r} at {self.state.address}: "
                                      f"{exc}") from exc
            for exchange, key in self.bindings:
                try:
                    await raw.queue_bind(self.queue_name, exchange, routing_key=key)
                except Exception as exc:
                    raise ConnectionError(f"{self.where}: binding queue {self.queue_name!r} to exchange "
                                          f"{exchange!r} (key {key!r}): {exc}") from exc
            self._generation += 1
            generation = self._generation
            await raw.basic_consume(self.queue_name, functools.partial(self._on_message, generation, raw),
                                    no_ack=self.auto_ack, consumer_tag=self.consumer_tag or None)
        except BaseException:
            await _quiet_close(connection)
            raise
        old, self._connection = self._connection, connection

        def lost(_sender: Any, exc: BaseException | None = None) -> None:
            # Reconnect right away (not at the next read), so the state is logged when it changes.
            if self._closing or generation != self._generation:
                return
            if self._reconnecting is None or self._reconnecting.done():
                self._reconnecting = asyncio.ensure_future(self._reconnect(exc or "connection closed"))

        connection.close_callbacks.add(lost)
        channel.close_callbacks.add(lost)
        if old is not None:
            await _quiet_close(old)

    async def _reconnect(self, error: BaseException | str) -> None:
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
    async def _on_message(self, generation: int, channel: Any, delivered: Any) -> None:
        self._deliveries.put_nowait((generation, channel, delivered))

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            generation, channel, delivered = await self._deliveries.get()
            if generation != self._generation:
                continue  # read on a channel that is gone: the broker has requeued it
            msg = Message(delivered.body, self._metadata(delivered))
            return [msg], self._settler(channel, delivered.delivery_tag)

    def _metadata(self, delivered: Any) -> dict[str, Any]:
        props = delivered.header.properties
        meta: dict[str, Any] = {}
        if props.headers:
            for key, value in props.headers.items():
                meta[str(key)] = header_value(value)
        for name, value in (
            ("amqp_content_type", props.content_type),
            ("amqp_content_encoding", props.content_encoding),
            ("amqp_delivery_mode", props.delivery_mode),
            ("amqp_priority", props.priority),
            ("amqp_correlation_id", props.correlation_id),
            ("amqp_reply_to", props.reply_to),
            ("amqp_expiration", props.expiration),
            ("amqp_message_id", props.message_id),
            ("amqp_type", props.message_type),
            ("amqp_user_id", props.user_id),
            ("amqp_app_id", props.app_id),
        ):
            if value not in (None, ""):
                meta[name] = value
        if props.timestamp:
            stamp = props.timestamp
            meta["amqp_timestamp"] = int(stamp.timestamp()) if hasattr(stamp, "timestamp") else int(stamp)
        delivery = delivered.delivery
        meta["amqp_consumer_tag"] = getattr(delivery, "consumer_tag", "") or ""
        meta["amqp_delivery_tag"] = delivered.delivery_tag
        meta["amqp_redelivered"] = bool(getattr(delivery, "redelivered", False))
        meta["amqp_exchange"] = delivered.exchange or ""
        meta["amqp_routing_key"] = delivered.routing_key or ""
        return meta

    def _settler(self, channel: Any, tag: int) -> AckFn:
        if self.auto_ack:
            async def nothing(error: BaseException | None) -> None:
                return None
            return nothing
        settled = False

        async def settle(error: BaseException | None) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            requeue = True
            if error is None:
                self._nack_streak = 0
            else:
                text = str(error)
                requeue = not any(p.search(text) for p in self.reject_patterns)
                if requeue:
                    # A requeued message comes straight back: pace repeated failures.
                    delay = min(NACK_DELAY_START * (2 ** self._nack_streak), NACK_DELAY_MAX)
                    self._nack_streak += 1
                    await asyncio.sleep(delay)
            if channel.is_closed:
                self.log.debug("%s: channel closed before settling message %d; the broker redelivers it",
                               self.where, tag)
                return
            try:
                if error is None:
                    await channel.basic_ack(tag)
                elif requeue:
                    await channel.basic_nack(tag, requeue=True)
                else:
                    await channel.basic_reject(tag, requeue=False)
            except Exception as exc:  # noqa: BLE001 - unsettled messages are redelivered by the broker
                self.log.warning("%s: could not settle message %d (the broker redelivers it): %s",
                                 self.where, tag, exc)

        return settle

    async def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._connection is not None:
            await _quiet_close(self._connection)
            self._connection = None


async def _quiet_close(connection: Any) -> None:
    try:
        await asyncio.wait_for(connection.close(), 5)
    except Exception:  # noqa: BLE001, S110 - closing a broken connection may fail; nothing to do
        pass


register(s.ComponentSpec(
    name="amqp_0_9", kind="input", category="services",
    summary="Connects to an AMQP (0.91) queue. AMQP is a messaging protocol used by various message brokers, "
            "including RabbitMQ.",
    description=(
        "Messages are acknowledged once the output delivered them; a failed delivery nacks the message with "
        "requeue (or rejects it without requeue when the error matches one of `nack_reject_patterns`), so the "
        "broker redelivers it. With `auto_ack` the broker forgets messages as it sends them and this process "
        "re-sends failed ones itself while it runs.\n\n"
        "The stream fails to start with an error naming the broker when no URL can be reached, the "
        "credentials are refused, or the queue does not exist (and `queue_declare` is off). A connection lost "
        "later is re-established with backoff; messages that were not yet acked are redelivered by the broker.\n\n"
        "### Metadata\n\nEach message has these metadata fields (the empty ones are left out), plus every "
        "message header:\n\n"
        "- amqp_content_type\n- amqp_content_encoding\n- amqp_delivery_mode\n- amqp_priority\n"
        "- amqp_correlation_id\n- amqp_reply_to\n- amqp_expiration\n- amqp_message_id\n- amqp_timestamp\n"
        "- amqp_type\n- amqp_user_id\n- amqp_app_id\n- amqp_consumer_tag\n- amqp_delivery_tag\n"
        "- amqp_redelivered\n- amqp_exchange\n- amqp_routing_key"),
    config=s.obj(
        "amqp_0_9", "",
        s.string("urls", "URLs to connect to, tried in order until one accepts the connection. An entry may "
                 "hold several comma-separated URLs.", kind="list",
                 examples=(["amqp://guest:guest@127.0.0.1:5672/"],
                           ["amqp://127.0.0.1:5672/,amqp://127.0.0.2:5672/"])),
        s.string("queue", "An AMQP queue to consume from."),
        s.obj("queue_declare", "Declares the queue when the input connects (if it exists, the settings must "
              "match). Off, the queue must already exist.",
              s.boolean("enabled", "Whether to declare the queue.", False),
              s.boolean("durable", "Whether the declared queue survives a broker restart.", True),
              s.boolean("auto_delete", "Whether the declared queue is deleted once its last consumer left.",
                        False),
              s.Field("arguments", "any", "Optional arguments of the declaration, e.g. `x-queue-type: quorum`; "
                      "values made only of digits are sent as integers.", default=None, kind="map",
                      examples=({"x-queue-type": "quorum", "x-max-length": "1000"},)),
              default={"enabled": False, "durable": True, "auto_delete": False}, advanced=True),
        s.obj("bindings_declare", "Bindings from exchanges to the queue, declared when the input connects.",
              s.string("exchange", "The exchange of the binding."),
              s.string("key", "The binding key.", ""),
              kind="list", default=[], advanced=True,
              examples=([{"exchange": "my_exchange", "key": "my_key"}],)),
        s.string("consumer_tag", "A consumer tag (empty: the broker picks one).", ""),
        s.boolean("auto_ack", "Acknowledge messages as soon as they arrive, before they are delivered "
                  "downstream (at-most-once on a crash).", False),
        s.string("nack_reject_patterns", "Regular expressions; a delivery error matching one of them rejects "
                 "the message without requeue (dead-lettering it if the queue has a dead-letter exchange).",
                 kind="list", default=[], advanced=True, examples=(["^reject me please:.+$"],)),
        s.integer("prefetch_count", "The maximum number of unacknowledged messages the broker sends.", 10),
        s.integer("prefetch_size", "The maximum total size in bytes of unacknowledged messages (0: no limit).",
                  0, advanced=True),
        tls_field(),
    ),
    factory=lambda conf, ctx: Amqp09Input(conf, ctx),
    examples=(("input:\n  amqp_0_9:\n    urls: [amqp://guest:guest@127.0.0.1:5672/]\n    queue: orders\n"
              "    queue_declare: { enabled: true, durable: true }\n"
              "    bindings_declare: [ { exchange: events, key: orders } ]"),),
))
