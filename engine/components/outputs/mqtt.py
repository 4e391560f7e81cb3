"""The `mqtt` output: publishes each message to an MQTT 3.1.1 or 5 broker, the topic interpolated.

A write returns once the broker confirmed every message of the batch (PUBACK for QoS 1, PUBCOMP for
QoS 2; QoS 0 once it is written to the socket) and raises otherwise, so the input is acked only then.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch, Message
from ...registry import register
from .._mqtt import Client, Session, common_fields, describe, parse_urls


def _compile(name: str, text: str) -> Any:
    from ...bloblang import ParseError, compile_interpolation

    try:
        return compile_interpolation(text)
    except ParseError as exc:
        raise ValueError(f"{name}: line {exc.line} column {exc.column}: {exc.explanation}") from None


class MqttOutput(Output):
    def __init__(self, conf: dict[str, Any]) -> None:
        parse_urls(conf["urls"])
        self.conf = conf
        self.topic = _compile("topic", conf["topic"])
        self.qos = int(conf["qos"])
        self.retained = bool(conf["retained"])
        retained_interpolated = conf.get("retained_interpolated")
        self.retained_interpolated = _compile("retained_interpolated", retained_interpolated) \
            if retained_interpolated else None
        self.write_timeout = float(conf["write_timeout"] or 0) or None
        self.max_in_flight = int(conf["max_in_flight"])
        self.session: Session | None = None

    async def connect(self) -> None:
        self.session = Session(self.conf, self.where, self.log)
        await self.session.connect()

    async def write(self, batch: Batch) -> None:
        session = self.session
        assert session is not None, "write before connect"
        # One reconnection round at most: a broker that is down fails the write (nacked, retried later).
        client = await session.ready(wait=False)
        results = await asyncio.gather(*(self._publish(client, msg, batch, i) for i, msg in enumerate(batch)),
                                       return_exceptions=True)
        failed = [(msg, r) for msg, r in zip(batch, results) if isinstance(r, BaseException)]
        if not failed:
            return
        if not client.alive:
            session.lost(failed[0][1])
        if len(failed) == len(batch):
            raise failed[0][1]
        raise PartialDelivery([m for m, _ in failed], [str(e) for _, e in failed], len(batch))

    async def _publish(self, client: Client, msg: Message, batch: Batch, index: int) -> None:
        topic = self.topic.render(msg, batch, index)
        if not topic:
            raise ValueError(f"{self.where}: the interpolated topic is empty")
        retain = self.retained
        if self.retained_interpolated is not None:
            text = self.retained_interpolated.render(msg, batch, index).strip().lower()
            if text not in ("true", "false"):
                raise ValueError(f'{self.where}: retained_interpolated must give "true" or "false", got {text!r}')
            retain = text == "true"
        try:
            await client.publish(topic, msg.raw, self.qos, retain, timeout=self.write_timeout)
        except aiomqtt.MqttError as exc:
            raise ConnectionError(f"{self.where}: publish to {topic!r} failed: {describe(exc)}") from None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


register(s.ComponentSpec(
    name="mqtt", kind="output", category="services",
    summary="Pushes messages to an MQTT broker.",
    description=(
        "The `topic` field can be dynamically set using function interpolations. When sending batched "
        "messages these interpolations are performed per message part.\n\n"
        "A write completes once the broker acknowledged every message (PUBACK for QoS 1, PUBCOMP for "
        "QoS 2) and fails otherwise, so the input is acknowledged only then. A wrong address fails the "
        "stream at start; a broker that goes away later makes writes fail (and be retried) until it is "
        "back, each write trying one reconnection round."),
    config=s.obj(
        "mqtt", "",
        *common_fields(),
        s.string("topic", "The topic to publish messages to.", interpolated=True,
                 examples=("events/${! meta(\"kind\") }",)),
        s.integer("qos", "The QoS value to set for each message. Has value 0,1,2.", 1, options=(0, 1, 2)),
        s.duration("write_timeout", "The maximum amount of time to wait to write data before the attempt "
                   "is abandoned.", "3s", examples=("1s", "500ms")),
        s.boolean("retained", "Set message as retained on the topic.", False),
        s.string("retained_interpolated", "Override the value of `retained` with an interpolable value "
                 "(`true` or `false`).", None, interpolated=True, advanced=True),
        s.integer("max_in_flight", "The maximum number of messages to have in flight at a given time. "
                  "Increase this to improve throughput.", 64),
    ),
    factory=lambda conf, ctx: MqttOutput(conf),
    examples=(
        "output:\n  mqtt:\n    urls: [tcp://127.0.0.1:1883]\n    topic: 'devices/${! meta(\"device\") }/events'\n"
        "    qos: 1",
    ),
))
