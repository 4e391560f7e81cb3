"""The `mqtt` input: subscribes to topics (wildcards allowed) on an MQTT 3.1.1 or 5 broker.

Acknowledgement: the client runs with paho-mqtt's manual acks, so a QoS 1 message is acknowledged to
the broker (PUBACK; PUBCOMP for QoS 2) only once the stream delivered it downstream, and PUBACKs go out
in the order the messages arrived (MQTT 3.1.1 §4.6): a message still being retried holds back the
PUBACKs of later ones, and the broker's in-flight window (Mosquitto: 20 per client) then applies
backpressure. A broker does not redeliver within a connection, so a failed delivery is re-sent by the
runtime from memory (`supports_nack` is False). Across a lost connection or a restart of AsyncGate the
broker redelivers unacknowledged messages only to a persistent session: `clean_session: false` with a
fixed `client_id` gives at-least-once end to end; with the default clean session a message in flight
when the connection (or the process) dies is lost, as MQTT defines.
"""

from __future__ import annotations

import asyncio
from typing import Any

import paho.mqtt.client as paho

from ... import spec as s
from ...component import AckFn, Input, noop_ack
from ...message import Batch, Message
from ...registry import register
from .._mqtt import Client, Session, common_fields, parse_urls


class MqttInput(Input):
    supports_nack = False

    def __init__(self, conf: dict[str, Any]) -> None:
        parse_urls(conf["urls"])  # a bad URL is a config error now, not at connect time
        topics = [str(t).strip() for t in conf["topics"] if str(t).strip()]
        if not topics:
            raise ValueError("topics: at least one topic is required")
        self.conf = conf
        self.qos = int(conf["qos"])
        self.topics = topics
        self.session: Session | None = None
        self._client: Client | None = None
        self._getter: "asyncio.Future[paho.MQTTMessage] | None" = None

    async def connect(self) -> None:
        self.session = Session(self.conf, self.where, self.log, manual_ack=True,
                               subscriptions=[(t, self.qos) for t in self.topics])
        await self.session.connect()
        self._client = self.session.client

    async def read(self) -> tuple[Batch, AckFn]:
        session = self.session
        assert session is not None, "read before connect"
        while True:
            client = self._client
            if client is not None:
                queue = client.queue
                # Messages already received on a connection that has since dropped are still delivered.
                if not queue.empty() and self._getter is None:
                    return self._message(queue.get_nowait(), client)
                if client.alive:
                    if self._getter is None:
                        self._getter = asyncio.ensure_future(queue.get())
                    await asyncio.wait((self._getter, client.disconnected), return_when=asyncio.FIRST_COMPLETED)
                    if self._getter.done():
                        getter, self._getter = self._getter, None
                        return self._message(getter.result(), client)
                    continue
                if self._getter is not None:
                    getter, self._getter = self._getter, None
                    if getter.done() and not getter.cancelled():
                        return self._message(getter.result(), client)
                    getter.cancel()
                    continue
                session.lost(None)
            self._client = await session.ready()

    def _message(self, pm: paho.MQTTMessage, client: Client) -> tuple[Batch, AckFn]:
        error = None
        try:
            topic = pm.topic
        except UnicodeDecodeError:
            topic = pm._topic.decode("utf-8", "replace")
            error = "mqtt: the topic is not valid UTF-8"
        meta: dict[str, Any] = {
            "mqtt_topic": topic,
            "mqtt_qos": pm.qos,
            "mqtt_retained": bool(pm.retain),
            "mqtt_duplicate": bool(pm.dup),
            "mqtt_message_id": pm.mid,
        }
        props = getattr(pm, "properties", None)
        for name, value in getattr(props, "UserProperty", None) or ():  # MQTT 5 user properties
            meta.setdefault(str(name), value)
        msg = Message(pm.payload, meta)
        if error:
            msg.error = error
        if pm.qos == 0:
            return [msg], noop_ack
        return [msg], self._acker(client, pm.mid, pm.qos)

    @staticmethod
    def _acker(client: Client, mid: int, qos: int) -> AckFn:
        pending = client.pending_acks
        entry: list[Any] = [mid, qos, None]
        pending.append(entry)

        async def ack(error: BaseException | None) -> None:
            if entry[2] is not None:
                return
            # A message that was not delivered is never acknowledged: a persistent session gets it again.
            entry[2] = "ack" if error is None else "skip"
            while pending and pending[0][2] is not None:
                done = pending.popleft()
                if done[2] == "ack":
                    client.ack(done[0], done[1])  # a no-op once that connection is gone

        return ack

    async def close(self) -> None:
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None
        if self.session is not None:
            await self.session.close()


register(s.ComponentSpec(
    name="mqtt", kind="input", category="services",
    summary="Subscribe to topics on MQTT brokers.",
    description=(
        "Speaks MQTT 3.1.1 (default) or 5 (`protocol_version`). QoS 1 and 2 messages are acknowledged to "
        "the broker only once they were delivered downstream, in arrival order. Use `clean_session: false` "
        "with a fixed `client_id` so that messages not yet acknowledged when the connection or the process "
        "goes away are redelivered by the broker (at-least-once); with a clean session MQTT drops them.\n\n"
        "A wrong address or a refused login fails the stream at start with the addresses tried. A broker "
        "that goes away later is reconnected to with backoff (logged once when lost, once when back) and "
        "the topics are subscribed again.\n\n"
        "### Metadata\n\nThis input adds the following metadata fields to each message: `mqtt_duplicate`, "
        "`mqtt_qos`, `mqtt_retained`, `mqtt_topic`, `mqtt_message_id` (and, with MQTT 5, the message's "
        "user properties)."),
    config=s.obj(
        "mqtt", "",
        *common_fields(),
        s.string("topics", "A list of topics to consume from. MQTT wildcards (`+`, `#`) are allowed.",
                 kind="list", examples=(["sensors/+/temperature", "events/#"],)),
        s.integer("qos", "The level of delivery guarantee to enforce. Has no effect when no subscription is "
                  "created (0: at most once, 1: at least once, 2: exactly once).", 1, options=(0, 1, 2),
                  advanced=True),
        s.boolean("clean_session", "Set whether the connection is non-persistent.", True, advanced=True),
        s.unsupported("auto_replay_nacks", "Whether nacked messages are replayed. AsyncGate always replays "
                                           "them (with backoff) until delivered."),
    ),
    factory=lambda conf, ctx: MqttInput(conf),
    examples=(
        "input:\n  mqtt:\n    urls: [tcp://127.0.0.1:1883]\n    topics: [sensors/+/temperature]\n"
        "    client_id: gateway-1\n    clean_session: false\n    qos: 1",
    ),
))
