"""The `amqp_0_9` output: publishes to an exchange of an AMQP 0-9-1 broker (RabbitMQ) with aio-pika.

Publisher confirms are always on: a write returns once the broker confirmed every message of the
batch, and raises otherwise (a nack, an unroutable `mandatory` message returned by the broker, a
closed channel, a lost connection). A lost connection or channel is re-opened on the next write.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch, Message
from ...registry import register
from .._amqp import LinkState, connect_first, safe_url, split_urls, tls_field, to_header

# Fields rendered per message into AMQP basic properties.
_PROPERTY_FIELDS = ("content_type", "content_encoding", "correlation_id", "reply_to", "expiration",
                    "message_id", "user_id", "app_id", "priority", "type")


def _compile(name: str, text: str) -> Any:
    from ...bloblang import ParseError, compile_interpolation

    try:
        return compile_interpolation(text)
    except ParseError as exc:
        raise ValueError(f"{name}: line {exc.line} column {exc.column}: {exc.explanation}") from None


class Amqp09Output(Output):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.urls = split_urls(conf["urls"])
        self.exchange = _compile("exchange", conf["exchange"])
        self.key = _compile("key", conf["key"])
        self.props = {name: _compile(name, conf[name] or "") for name in _PROPERTY_FIELDS}
        self.props = {name: value for name, value in self.props.items()
                      if not (value.is_static and value.render(Message(b""), [], 0) == "")}
        declare = conf["exchange_declare"] or {}
        self.declare = bool(declare.get("enabled", False))
        self.exchange_type = declare.get("type", "direct")
        self.exchange_durable = bool(declare.get("durable", True))
        self.exchange_arguments = declare.get("arguments") or None
        self.exclude_prefixes = tuple((conf["metadata"] or {}).get("exclude_prefixes") or [])
        self.persistent = bool(conf["persistent"])
        self.mandatory = bool(conf["mandatory"])
        self.immediate = bool(conf["immediate"])
        self.timeout = conf["timeout"] or None
        self.max_in_flight = int(conf["max_in_flight"])
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._connection: Any = None
        self._channel: Any = None  # aio-pika channel
        self._raw: Any = None  # its aiormq channel
        self._declared: set[str] = set()
        self._connection_lost = False
        self._closing = False
        self._lock = asyncio.Lock()
        self._state: LinkState | None = None

    @property
    def state(self) -> LinkState:
        if self._state is None:
            self._state = LinkState(self.log, self.where, ", ".join(safe_url(u) for u in self.urls))
        return self._state

    # -- connection ----------------------------------------------------------
    async def connect(self) -> None:
        await self._open_connection()
        await self._open_channel()
        if self.declare and self.exchange.is_static:
            await self._declare(self.exchange.render(Message(b""), [], 0))
        self.state.connected()

    async def _open_connection(self) -> None:
        old, self._connection = self._connection, None
        if old is not None:
            await _quiet_close(old)
        name = f"asyncgate {self.where} {uuid.uuid4().hex[:6]}"
        connection = await connect_first(self.urls, self.where, name)
        self._connection = connection
        self._connection_lost = False

        def lost(_sender: Any, exc: BaseException | None = None) -> None:
            if self._connection is connection and not self._closing:
                self._connection_lost = True
                self.state.lost(exc or "connection closed")

        connection.close_callbacks.add(lost)

    async def _open_channel(self) -> None:
        self._declared.clear()
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._raw = await self._channel.get_underlay_channel()

    async def _ready(self) -> Any:
        """The channel to publish on, re-opening the connection or channel if they went away."""
        async with self._lock:
            try:
                if self._connection is None or self._connection_lost or self._connection.is_closed:
                    await self._open_connection()
                    await self._open_channel()
                elif self._channel is None or self._channel.is_closed or self._raw.is_closed:
                    await self._open_channel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state.lost(exc)
                raise
            self.state.connected()
            return self._raw

    async def _declare(self, exchange: str) -> None:
        if not exchange or exchange in self._declared:
            return
        try:
            await self._channel.declare_exchange(exchange, self.exchange_type, durable=self.exchange_durable,
                                                 arguments=self.exchange_arguments)
        except Exception as exc:
            raise ConnectionError(f"{self.where}: declaring exchange {exchange!r}: {exc}") from exc
        self._declared.add(exchange)

    # -- writing -------------------------------------------------------------
    def _prepare(self, msg: Message, batch: Batch, index: int) -> tuple[str, str, Any]:
        from aiormq import spec

        exchange = self.exchange.render(msg, batch, index)
        key = self.key.render(msg, batch, index)
        values = {name: value.render(msg, batch, index) for name, value in self.props.items()}
        priority = None
        if values.get("priority"):
            try:
                priority = int(values["priority"])
            except ValueError:
                raise ValueError(f"priority: {values['priority']!r} is not an integer") from None
            if not 0 <= priority <= 255:
                raise ValueError(f"priority: {priority} is not between 0 and 255")
        headers = None
        if msg.has_meta:
            prefixes = self.exclude_prefixes
            headers = {k: to_header(v) for k, v in msg.meta.items()
                       if not (prefixes and k.startswith(prefixes))} or None
        properties = spec.Basic.Properties(
            content_type=values.get("content_type") or None,
            content_encoding=values.get("content_encoding") or None,
            headers=headers,
            delivery_mode=2 if self.persistent else 1,
            priority=priority,
            correlation_id=values.get("correlation_id") or None,
            reply_to=values.get("reply_to") or None,
            expiration=values.get("expiration") or None,
            message_id=values.get("message_id") or None,
            message_type=values.get("type") or None,
            user_id=values.get("user_id") or None,
            app_id=values.get("app_id") or None,
        )
        return exchange, key, properties

    async def write(self, batch: Batch) -> None:
        errors: dict[int, str] = {}
        prepared: list[tuple[int, str, str, Any]] = []
        for index, msg in enumerate(batch):
            try:
                prepared.append((index, *self._prepare(msg, batch, index)))
            except Exception as exc:  # noqa: BLE001 - one bad message does not sink the batch
                errors[index] = str(exc)
        if prepared:
            raw = await self._ready()
            if self.declare:
                for exchange in {p[1] for p in prepared}:
                    await self._declare(exchange)
            results = await asyncio.gather(*(
                raw.basic_publish(batch[index].raw, exchange=exchange, routing_key=key, properties=props,
                                  mandatory=self.mandatory, immediate=self.immediate, timeout=self.timeout)
                for index, exchange, key, props in prepared), return_exceptions=True)
            for (index, exchange, key, _), result in zip(prepared, results):
                if isinstance(result, BaseException):
                    errors[index] = self._describe(result, exchange, key)
            if any(isinstance(r, BaseException) for r in results) and self._raw is not None and self._raw.is_closed:
                self.log.debug("%s: channel closed by the broker; re-opened on the next write", self.where)
        if not errors:
            return
        if len(batch) == 1:
            raise ConnectionError(errors[0])
        failed = sorted(errors)
        raise PartialDelivery([batch[i] for i in failed], [errors[i] for i in failed], total=len(batch))

    def _describe(self, exc: BaseException, exchange: str, key: str) -> str:
        import aiormq.exceptions as ex

        where = f"exchange {exchange!r} key {key!r}"
        if isinstance(exc, ex.PublishError):
            return f"{self.where}: message returned by the broker as unroutable ({where})"
        if isinstance(exc, ex.DeliveryError):
            return f"{self.where}: the broker refused the message ({where})"
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return f"{self.where}: no confirmation within {self.timeout}s ({where})"
        return f"{self.where}: publishing to {where} failed: {exc or type(exc).__name__}"

    async def close(self) -> None:
        self._closing = True
        if self._connection is not None:
            await _quiet_close(self._connection)
            self._connection = None


async def _quiet_close(connection: Any) -> None:
    try:
        await asyncio.wait_for(connection.close(), 5)
    except Exception:  # noqa: BLE001, S110
        pass


def _interp(name: str, description: str, default: Any = "", **kw: Any) -> s.Field:
    return s.string(name, description, default, interpolated=True, **kw)


register(s.ComponentSpec(
    name="amqp_0_9", kind="output", category="services",
    summary="Sends messages to an AMQP (0.91) exchange. AMQP is a messaging protocol used by various message "
            "brokers, including RabbitMQ.",
    description=(
        "The metadata of each message are delivered as headers (minus those matching "
        "`metadata.exclude_prefixes`).\n\n"
        "Publisher confirms are always used: a write completes once the broker confirmed every message and "
        "fails (so the input does not acknowledge) when the broker refuses a message, returns a `mandatory` "
        "message it cannot route, or the connection drops. A lost connection is re-opened on the next write.\n\n"
        "The output can declare the target exchange (`exchange_declare.enabled`); if it exists already, "
        "its settings must match. The fields `exchange`, `key`, `type` and the message properties are "
        "interpolated per message."),
    config=s.obj(
        "amqp_0_9", "",
        s.string("urls", "URLs to connect to, tried in order until one accepts the connection.", kind="list",
                 examples=(["amqp://guest:guest@127.0.0.1:5672/"],)),
        _interp("exchange", "An AMQP exchange to publish to (empty: the default exchange, which routes by "
                "queue name).", default=s.REQUIRED),
        s.obj("exchange_declare", "Declares the exchange when connecting (for an interpolated name, before the "
              "first message sent to each one).",
              s.boolean("enabled", "Whether to declare the exchange.", False),
              s.string("type", "The type of the exchange.", "direct",
                       options=("direct", "fanout", "topic", "headers", "x-custom")),
              s.boolean("durable", "Whether the exchange survives a broker restart.", True),
              s.Field("arguments", "any", "Optional arguments of the declaration.", default=None, kind="map",
                      examples=({"alternate-exchange": "my-ae"},)),
              default={"enabled": False, "type": "direct", "durable": True}, advanced=True),
        _interp("key", "The binding (routing) key of each message.", examples=("${! meta(\"routing\") }",)),
        _interp("type", "The type property of each message."),
        _interp("content_type", "The content type property of each message.", "application/octet-stream",
                advanced=True),
        _interp("content_encoding", "The content encoding property of each message.", advanced=True),
        _interp("correlation_id", "The correlation ID property of each message.", advanced=True),
        _interp("reply_to", "The reply-to property of each message.", advanced=True),
        _interp("expiration", "The TTL of each message in milliseconds, as a string.", advanced=True),
        _interp("message_id", "The message ID property of each message (empty: a random one).", advanced=True),
        _interp("user_id", "The user ID property of each message (RabbitMQ checks it is the connection's user).",
                advanced=True),
        _interp("app_id", "The application ID property of each message.", advanced=True),
        s.obj("metadata", "Which metadata become message headers.",
              s.string("exclude_prefixes", "Metadata keys starting with one of these are not sent.", kind="list",
                       default=[]),
              default={"exclude_prefixes": []}),
        _interp("priority", "The priority of each message, 0 to 255 (empty: none).", advanced=True,
                examples=("0", "${! meta(\"amqp_priority\") }")),
        s.integer("max_in_flight", "The maximum number of batches being sent at once.", 64),
        s.boolean("persistent", "Send messages as persistent (delivery mode 2), so durable queues keep them "
                  "across a broker restart.", False, advanced=True),
        s.boolean("mandatory", "Ask the broker to return messages it cannot route to any queue; such a message "
                  "fails its write.", False, advanced=True),
        s.boolean("immediate", "Set the immediate flag (RabbitMQ does not implement it and closes the channel).",
                  False, advanced=True),
        s.duration("timeout", "How long to wait for the broker's confirmation of a message (empty: no limit).",
                   "", advanced=True),
        tls_field(),
    ),
    factory=lambda conf, ctx: Amqp09Output(conf, ctx),
    examples=(("output:\n  amqp_0_9:\n    urls: [amqp://guest:guest@127.0.0.1:5672/]\n    exchange: events\n"
              "    exchange_declare: { enabled: true, type: topic }\n    key: ${! meta(\"kind\") }\n"
              "    persistent: true\n    mandatory: true"),),
))
