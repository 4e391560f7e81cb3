"""The `nats` output: publishes each message to a core NATS subject (interpolated per message).

Core NATS has no publish acknowledgement. A write returns once the server has processed the batch's
publishes (a PING/PONG round trip after them: `flush`), and fails at once while the connection is down
(nothing is buffered for a later reconnect), so the input is acked only for what reached the server.
"""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register
from .._nats import (Connection, HeaderBuilder, connection_fields, describe, headers_field, metadata_field,
                     security_fields, split_urls)

FLUSH_TIMEOUT = 5.0


def compile_subject(text: str) -> Any:
    from ...bloblang import ParseError, compile_interpolation

    try:
        return compile_interpolation(text)
    except ParseError as exc:
        raise ValueError(f"subject: line {exc.line} column {exc.column}: {exc.explanation}") from None


class NatsOutput(Output):
    def __init__(self, conf: dict[str, Any]) -> None:
        split_urls(conf["urls"])
        self.conf = conf
        self.subject = compile_subject(conf["subject"])
        self.headers = HeaderBuilder(conf)
        self.max_in_flight = int(conf["max_in_flight"])
        self.conn: Connection | None = None

    async def connect(self) -> None:
        self.conn = Connection(self.conf, self.where, self.log)
        await self.conn.connect()

    async def ready(self) -> Any:
        conn = self.conn
        assert conn is not None, "write before connect"
        nc = await conn.ensure(wait=False)
        if not nc.is_connected:
            raise ConnectionError(f"{self.where}: not connected to NATS {conn.addresses} (reconnecting)")
        return nc

    def target(self, msg: Any, batch: Batch, index: int) -> str:
        subject = self.subject.render(msg, batch, index)
        if not subject:
            raise ValueError(f"{self.where}: the interpolated subject is empty")
        return subject

    async def write(self, batch: Batch) -> None:
        nc = await self.ready()
        try:
            for index, msg in enumerate(batch):
                await nc.publish(self.target(msg, batch, index), msg.raw,
                                 headers=self.headers.build(msg, batch, index))
            await nc.flush(FLUSH_TIMEOUT)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with our name
            raise ConnectionError(f"{self.where}: publish failed: {describe(exc)}") from exc

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


register(s.ComponentSpec(
    name="nats", kind="output", category="services",
    summary="Publish to an NATS subject.",
    description=(
        "This output interpolates functions within the subject field.\n\n"
        "Core NATS does not acknowledge publishes: a write completes once the server answered a PING sent "
        "after the batch (so the messages reached it), and fails while the connection is down. Use "
        "`nats_jetstream` for publishes the server stores and acknowledges."),
    config=s.obj(
        "nats", "",
        *connection_fields(),
        s.string("subject", "The subject to publish to.", interpolated=True,
                 examples=("foo.bar.baz", 'events.${! meta("kind") }')),
        headers_field(),
        metadata_field(),
        s.integer("max_in_flight", "The maximum number of messages to have in flight at a given time. "
                  "Increase this to improve throughput.", 64),
        *security_fields(),
        s.unsupported("inject_tracing_map", "EXPERIMENTAL: tracing context injected into messages."),
    ),
    factory=lambda conf, ctx: NatsOutput(conf),
    examples=("output:\n  nats:\n    urls: [nats://127.0.0.1:4222]\n    subject: 'orders.${! meta(\"region\") }'",),
))
