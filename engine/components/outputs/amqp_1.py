"""The `amqp_1` output: sends messages to an AMQP 1.0 target address (python-qpid-proton).

Proton runs in its own thread (engine/components/_amqp1.py). A write returns once the receiver
accepted every message of the batch and raises otherwise (rejected, released or modified, a lost
link or connection). A lost connection is re-opened on the next write.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from proton.handlers import MessagingHandler

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch
from ...registry import register
from .._amqp1 import (
    LinkHandler,
    ProtonLink,
    describe_condition,
    sasl_field,
    sasl_settings,
    split_urls,
    tls_field,
    urls_field,
)


class _Sender(LinkHandler, MessagingHandler):
    role = "target"

    def __init__(self, owner: Amqp1Output, urls: list[str], address: str, sasl: dict[str, Any]) -> None:
        MessagingHandler.__init__(self, prefetch=0, auto_accept=False, auto_settle=True)
        LinkHandler.__init__(self, owner, urls, address, sasl)
        self.waiting: collections.deque[tuple[Any, asyncio.Future[Any]]] = collections.deque()
        self.unsettled: dict[Any, asyncio.Future[Any]] = {}

    def make_link(self, container: Any, conn: Any) -> Any:
        return container.create_sender(conn, self.address)

    def remote_terminus_ok(self, link: Any) -> bool:
        return link.remote_target is not None and link.remote_target.address is not None

    def fail_pending(self, text: str) -> None:
        waiting, self.waiting = list(self.waiting), collections.deque()
        unsettled, self.unsettled = list(self.unsettled.values()), {}
        for _, future in waiting:
            self._fail(future, text)
        for future in unsettled:
            self._fail(future, text)

    def _fail(self, future: asyncio.Future[Any], text: str) -> None:
        from .._amqp1 import _set_exception

        self.thread.to_loop(_set_exception, future, ConnectionError(text))  # type: ignore[union-attr]

    def _done(self, tag: Any, error: str | None) -> None:
        from .._amqp1 import _set_exception, _set_result

        future = self.unsettled.pop(tag, None)
        if future is None:
            return
        if error is None:
            self.thread.to_loop(_set_result, future, None)  # type: ignore[union-attr]
        else:
            self.thread.to_loop(_set_exception, future, ConnectionError(error))  # type: ignore[union-attr]

    # -- called through ProtonThread.call ------------------------------------------------------
    def send(self, messages: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        if self.link is None or self.conn is None:
            raise ConnectionError("not connected")
        self.waiting.extend(messages)
        self._flush()

    def _flush(self) -> None:
        while self.waiting and self.link is not None and self.link.credit > 0:
            message, future = self.waiting.popleft()
            delivery = self.link.send(message)
            self.unsettled[delivery.tag] = future

    # -- events ---------------------------------------------------------------------------------
    def on_sendable(self, event: Any) -> None:
        if self.current(event):
            self._flush()

    def on_accepted(self, event: Any) -> None:
        self._done(event.delivery.tag, None)

    def on_rejected(self, event: Any) -> None:
        condition = getattr(event.delivery.remote, "condition", None)
        self._done(event.delivery.tag, f"rejected by the receiver ({describe_condition(condition)})"
                   if condition else "rejected by the receiver")

    def on_released(self, event: Any) -> None:
        self._done(event.delivery.tag, "released (not delivered) by the receiver")

    def on_settled(self, event: Any) -> None:
        self._done(event.delivery.tag, "settled by the receiver without an outcome")


class Amqp1Output(ProtonLink, Output):
    ROLE = "target"
    VERB = "send to"

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.urls = split_urls(conf["urls"])
        self.target = str(conf["target_address"] or "")
        if not self.target:
            raise ValueError("target_address: required")
        self.sasl = sasl_settings(conf["sasl"])
        self.exclude_prefixes = tuple((conf["metadata"] or {}).get("exclude_prefixes") or [])
        self.max_in_flight = int(conf["max_in_flight"])
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight: must be at least 1")
        self._handler: _Sender | None = None
        self._connected = False
        self._lock = asyncio.Lock()

    def terminus(self) -> str:
        return self.target

    def new_handler(self) -> _Sender:
        return _Sender(self, self.urls, self.target, self.sasl)

    async def _open(self) -> None:
        self._connected = False
        await super()._open()
        self._connected = True

    def lost(self, generation: int, text: str) -> None:
        """From the reactor: the connection went away; the next write re-opens it."""
        self._connected = False
        self.state.lost(text)

    async def _ready(self) -> None:
        async with self._lock:
            if self._connected:
                return
            try:
                await self._open()
            except Exception as exc:
                self.state.lost(exc)
                raise
            self.state.connected()

    def _message(self, msg: Any) -> Any:
        from proton import Message as ProtonMessage
        from proton import symbol

        annotations = None
        if msg.has_meta:
            prefixes = self.exclude_prefixes
            annotations = {symbol(str(k)): v if isinstance(v, str) else str(v) for k, v in msg.meta.items()
                           if not (prefixes and str(k).startswith(prefixes))} or None
        out = ProtonMessage(body=msg.raw, inferred=True)
        if annotations:
            out.annotations = annotations
        return out

    async def write(self, batch: Batch) -> None:
        await self._ready()
        loop = asyncio.get_running_loop()
        items = [(self._message(msg), loop.create_future()) for msg in batch]
        handler = self._handler
        try:
            await self._thread.call(lambda: handler.send(items))  # type: ignore[union-attr]
        except Exception as exc:
            self._connected = False
            raise ConnectionError(f"{self.where}: sending to {self.state.address} failed: {exc}") from exc
        results = await asyncio.gather(*(f for _, f in items), return_exceptions=True)
        errors = {i: f"{self.where}: sending to target {self.target!r} failed: {r}"
                  for i, r in enumerate(results) if isinstance(r, BaseException)}
        if not errors:
            return
        if len(batch) == 1:
            raise ConnectionError(errors[0])
        failed = sorted(errors)
        raise PartialDelivery([batch[i] for i in failed], [errors[i] for i in failed], total=len(batch))

    async def close(self) -> None:
        if self._thread is not None:
            await self._thread.stop()
            self._thread = None


register(s.ComponentSpec(
    name="amqp_1", kind="output", category="services",
    summary="Sends messages to an AMQP (1.0) server.",
    description=(
        "Message metadata is added to each AMQP message as string message annotations; which keys are added "
        "is controlled with `metadata.exclude_prefixes`.\n\n"
        "A write completes once the receiver accepted every message, and fails (so the input does not "
        "acknowledge) when a message is rejected, released or modified, or the link or connection drops. "
        "The stream fails to start with an error naming the broker and the address when no URL can be "
        "reached, the credentials are refused or the broker refuses the target address; a connection lost "
        "later is re-opened on the next write.\n\n"
        "With RabbitMQ 3.x (plugin `rabbitmq_amqp1_0`), `/amq/queue/NAME` sends to an existing queue, "
        "`/queue/NAME` declares it first, `/exchange/NAME/KEY` publishes to an exchange."),
    config=s.obj(
        "amqp_1", "",
        urls_field(),
        s.string("target_address", "The target address to write to.",
                 examples=("/foo", "queue:/bar", "topic:/baz", "/amq/queue/orders")),
        s.integer("max_in_flight", "The maximum number of messages (or batches) in flight at once.", 64),
        tls_field(),
        s.unsupported("application_properties_map", ("A Bloblang mapping giving the application properties "
                      "of each message.")),
        sasl_field(),
        s.obj("metadata", "Which metadata become message annotations.",
              s.string("exclude_prefixes", "Metadata keys starting with one of these are not sent.", kind="list",
                       default=[]),
              default={"exclude_prefixes": []}),
    ),
    factory=lambda conf, ctx: Amqp1Output(conf, ctx),
    examples=(("output:\n  amqp_1:\n    urls: [amqp://guest:guest@127.0.0.1:5672/]\n"
              "    target_address: /amq/queue/orders\n    max_in_flight: 64"),),
))
