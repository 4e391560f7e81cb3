"""The `nats_jetstream` output: publishes each message to a JetStream subject (interpolated) and waits for
the server's publish acknowledgement, so the input is acked only for messages a stream has stored."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.errors import NoRespondersError

from ... import spec as s
from ...component import PartialDelivery
from ...message import Batch, Message
from ...registry import register
from .._nats import describe, headers_field, metadata_field, connection_fields, security_fields
from .nats import NatsOutput

PUBLISH_TIMEOUT = 5.0


class NatsJetStreamOutput(NatsOutput):
    async def write(self, batch: Batch) -> None:
        nc = await self.ready()
        js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
        results = await asyncio.gather(*(self._publish(js, msg, batch, i) for i, msg in enumerate(batch)),
                                       return_exceptions=True)
        failed = [(msg, r) for msg, r in zip(batch, results) if isinstance(r, BaseException)]
        if not failed:
            return
        if len(failed) == len(batch):
            raise failed[0][1]
        raise PartialDelivery([m for m, _ in failed], [str(e) for _, e in failed], len(batch))

    async def _publish(self, js: Any, msg: Message, batch: Batch, index: int) -> None:
        subject = self.target(msg, batch, index)
        try:
            await js.publish(subject, msg.raw, headers=self.headers.build(msg, batch, index))
        except NoRespondersError:
            raise ConnectionError(f'{self.where}: no JetStream stream captures subject "{subject}"') from None
        except Exception as exc:  # noqa: BLE001 - reported with our name and the subject
            raise ConnectionError(f'{self.where}: publish to "{subject}" not acknowledged: {describe(exc)}') \
                from exc


register(s.ComponentSpec(
    name="nats_jetstream", kind="output", category="services",
    summary="Write messages to a NATS JetStream subject.",
    description=(
        "This output interpolates functions within the subject field.\n\n"
        "A write completes once JetStream acknowledged every message of the batch (stored by a stream) and "
        "fails otherwise (no stream for the subject, timeout, connection down), so the input is acked only "
        "then; a batch partly stored is retried for the rest only."),
    config=s.obj(
        "nats_jetstream", "",
        *connection_fields(),
        s.string("subject", "A subject to write to.", interpolated=True,
                 examples=("foo.bar.baz", '${! meta("kafka_topic") }', 'foo.${! json("meta.type") }')),
        headers_field(),
        metadata_field(),
        s.integer("max_in_flight", "The maximum number of messages to have in flight at a given time. "
                  "Increase this to improve throughput.", 1024),
        *security_fields(),
        s.unsupported("inject_tracing_map", "EXPERIMENTAL: tracing context injected into messages."),
    ),
    factory=lambda conf, ctx: NatsJetStreamOutput(conf),
    examples=("output:\n  nats_jetstream:\n    urls: [nats://127.0.0.1:4222]\n    subject: 'orders.${! meta(\"region\") }'",),
))
