"""Gateway combinations against real brokers (issue 5, "Gateway combinations"), served as `asyncgate serve`
serves them (tests/unit/gateway/support.py `served`: Hypercorn on a free port) and talked to with real
clients (httpx, websockets, confluent-kafka, aiomqtt, nats-py, aio-pika).

- Tyk's end-to-end Streams example (issue 4) against the real Kafka protocol broker (Tansu).
- Kafka -> WebSocket: round robin within a static consumer group; a full copy per connection with
  `consumer_group: $tyk_context.request_id`.
- MQTT -> SSE, NATS -> WebSocket, AMQP -> WebSocket, POST -> Kafka, POST -> AMQP queue.

Every topic, queue, subject and group is unique to its test (except the Tyk example's own names, see there).
Blocking confluent-kafka calls run in a thread: the gateway runs on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aio_pika
import aiomqtt
import httpx
import nats
import orjson
import pytest

from gateway_adapter import create_app, load_api_text
from tests.unit.gateway.support import api_yaml, recv, served, sse_events, until, ws_connect
from tests.unit.gateway.test_context_streams import TYK_END_TO_END


def uid(prefix: str) -> str:
    return f"asyncgate-gw-{prefix}-{uuid.uuid4().hex[:10]}"


def dynamic(app: Any) -> list[dict[str, Any]]:
    return [i for i in app.state.gateway.instances() if i["context"]]


# -- Kafka (confluent-kafka, blocking: called through asyncio.to_thread) --------------------------------------
def _create_topics(address: str, topics: list[str], partitions: int = 1) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": address})
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    for future in futures.values():
        future.result(15)


def _produce(address: str, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": address, "linger.ms": 1})
    failed: list[Any] = []
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, _m: failed.append(err) if err else None)
    assert producer.flush(15) == 0 and not failed, failed


def _read_topic(address: str, topic: str, count: int, timeout: float = 10.0) -> list[Any]:
    """COUNT messages of TOPIC read from the start of every partition (assign: no group join)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": address, "group.id": uid("reader"), "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            got.extend(m for m in consumer.consume(100, 0.2) if m.error() is None)
        return got
    finally:
        consumer.close()


async def create_topics(address: str, *topics: str, partitions: int = 1) -> None:
    await asyncio.to_thread(_create_topics, address, list(topics), partitions)


async def produce(address: str, topic: str, values: list[bytes]) -> None:
    await asyncio.to_thread(_produce, address, topic, values)


async def read_topic(address: str, topic: str, count: int) -> list[Any]:
    return await asyncio.to_thread(_read_topic, address, topic, count)


async def drain(ws: Any, into: list[bytes]) -> None:
    while True:
        into.append(await ws.recv())


# -- 1. Tyk's end-to-end example against real Kafka ------------------------------------------------------------
@pytest.mark.kafka
def test_tyk_end_to_end_example_on_real_kafka(run, kafka_address: str) -> None:
    # The published example exactly as tests/unit/gateway/test_context_streams.py holds it, with only the
    # broker address changed (and `memkafka`, that test's in-memory stand-in, back to the real `kafka`).
    # Its topics (`jobs`, `completed`) and groups (`worker`, one per user) are kept: the Tansu broker is this
    # pytest session's own and no other test uses these names. The topics are created first, as the
    # example's docker-compose Kafka would (auto-creation); the default group session timeout (6s) already
    # gives Tansu's ~3s joins, so nothing else changes.
    text = TYK_END_TO_END.replace("memkafka:", "kafka:").replace("localhost:9093", kafka_address)
    assert "memkafka" not in text and text.count(kafka_address) == 4
    api = load_api_text(text, "streams-demo.yaml")
    assert api.id == "stream-demo" and api.context_variables
    # bob's last result waits for a subscriber of his that never comes: stopping gives up after 500ms.
    app = create_app(apis=[api], config={"shutdown_timeout": "500ms"})

    async def main() -> None:
        await create_topics(kafka_address, "jobs", "completed")
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client:
            async def push(user: str, message: str) -> dict:
                response = await client.post(f"/stream-demo/push-event?user={user}", json={"message": message})
                assert response.status_code == 200, response.text
                return response.json()  # the sync response: the event as published

            async def poll(user: str) -> Any:
                # A long-poll client polls again after a 408 (the first poll of a user also waits for that
                # user's new consumer to join its group).
                for _ in range(4):
                    response = await client.get(f"/stream-demo/get-event?user={user}")
                    if response.status_code != 408:
                        assert response.status_code == 200, response.text
                        return orjson.loads(response.content)
                raise AssertionError(f"no result for {user}")

            alice1 = await push("alice", "hello world")
            assert alice1["user_id"] == "alice" and alice1["message"] == "hello world" and alice1["job_id"]
            bob1 = await push("bob", "hi")
            assert bob1["user_id"] == "bob"
            # Both really went through Kafka: the worker's results are on `completed`.
            assert await poll("alice") == {**alice1, "result": "bar"}
            assert await poll("bob") == {**bob1, "result": "bar"}
            # Over a WebSocket: alice sees her next result and never bob's.
            ws = await ws_connect(f"ws://{host}/stream-demo/ws-in?user=alice")
            await push("bob", "not for alice")
            alice2 = await push("alice", "second")
            assert orjson.loads(await recv(ws, 10)) == {**alice2, "result": "bar"}
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
            await ws.close()
            contexts = sorted((i["stream"], i["context"].get("request_data_user", "")) for i in dynamic(app))
            assert contexts == [("in", "alice"), ("in", "bob"), ("out", "alice"), ("out", "bob")]
            assert [i["stream"] for i in app.state.gateway.instances() if not i["context"]] == ["Worker"]
        # The published events themselves, on `jobs`, as a plain Kafka consumer sees them.
        jobs = await read_topic(kafka_address, "jobs", 4)
        assert sorted(orjson.loads(m.value())["message"] for m in jobs) == [
            "hello world", "hi", "not for alice", "second"]

    run(main(), timeout=45)


# -- 2. Kafka -> WebSocket -------------------------------------------------------------------------------------
@pytest.mark.kafka
def test_kafka_to_websocket_round_robin_within_a_static_group(run, kafka_address: str) -> None:
    topic, group = uid("rr"), uid("group")
    streams = f"""
        feed:
          input: {{kafka: {{addresses: ["{kafka_address}"], topics: ["{topic}"], consumer_group: "{group}"}}}}
          output: {{http_server: {{ws_path: /ws, path: "", stream_path: ""}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/k/", streams), "k.yaml")])
    rounds = [[b"r%d-m%d" % (r, i) for i in range(3)] for r in range(4)]
    values = [v for batch in rounds for v in batch]

    async def main() -> None:
        await create_topics(kafka_address, topic)
        async with served(app) as host:
            first = await ws_connect(f"ws://{host}/k/ws")
            second = await ws_connect(f"ws://{host}/k/ws")
            await until(lambda: app.state.gateway.instances()[0]["active_connections"] == 2)
            got_first: list[bytes] = []
            got_second: list[bytes] = []
            readers = [asyncio.ensure_future(drain(first, got_first)),
                       asyncio.ensure_future(drain(second, got_second))]
            try:
                # Round robin is per batch (Bento: the kafka input hands on one batch per partition per
                # fetch, and a batch goes to one client), so events are produced in rounds, as they trickle in.
                sent = 0
                for batch in rounds:
                    await produce(kafka_address, topic, batch)
                    sent += len(batch)
                    await until(lambda n=sent: len(got_first) + len(got_second) >= n, 10)
                await asyncio.sleep(0.2)  # nothing more (no duplicates) comes
            finally:
                for reader in readers:
                    reader.cancel()
            # Each message to exactly one client, both clients served, in order within each share.
            assert got_first and got_second
            assert not set(got_first) & set(got_second)
            assert sorted(got_first + got_second) == values
            assert got_first == sorted(got_first) and got_second == sorted(got_second)
            await first.close()
            await second.close()

    run(main(), timeout=30)


@pytest.mark.kafka
def test_kafka_to_websocket_a_full_copy_per_connection_with_request_id_groups(run, kafka_address: str) -> None:
    topic = uid("copy")
    streams = f"""
        feed:
          input:
            kafka: {{addresses: ["{kafka_address}"], topics: ["{topic}"],
                     consumer_group: $tyk_context.request_id}}
          output: {{http_server: {{ws_path: /ws, path: "", stream_path: ""}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/k/", streams, context=True), "k.yaml")])
    values = [b"c%d" % i for i in range(5)]

    async def main() -> None:
        await create_topics(kafka_address, topic)
        await produce(kafka_address, topic, values)
        async with served(app) as host:
            clients = [await ws_connect(f"ws://{host}/k/ws") for _ in range(2)]
            # Each connection: its own instance, its own group (start_from_oldest), so every message.
            copies = await asyncio.gather(*(asyncio.wait_for(_take(ws, len(values)), 15) for ws in clients))
            assert list(copies) == [values, values]
            groups = {i["context"]["request_id"] for i in dynamic(app)}
            assert len(groups) == 2
            for ws in clients:
                await ws.close()
            await until(lambda: not dynamic(app), 10)  # request_id instances retire with their connection

    run(main(), timeout=40)


async def _take(ws: Any, count: int) -> list[bytes]:
    return [await ws.recv() for _ in range(count)]


# -- MQTT -> SSE, NATS -> WebSocket (no broker-side buffering: probe until the subscription is live) -----------
async def probed(publish: Any, seen: Any, values: list[bytes], timeout: float = 10.0) -> None:
    """Publish probes until one arrives (the gateway's subscription is live), then VALUES."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    n = 0
    while not seen():
        if loop.time() > deadline:
            raise TimeoutError("no probe came through")
        await publish(b"probe-%d" % n)
        n += 1
        await asyncio.sleep(0.1)
    for value in values:
        await publish(value)


@pytest.mark.mqtt
def test_mqtt_to_sse(run, mqtt_address: str) -> None:
    topic = uid("mqtt").replace("-", "/", 1)
    streams = f"""
        feed:
          input: {{mqtt: {{urls: ["tcp://{mqtt_address}"], topics: ["{topic}/#"], qos: 1,
                          client_id: "{uid('client')}"}}}}
          output: {{http_server: {{stream_path: /sse, stream_format: event_source, ws_path: "", path: ""}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/m/", streams), "m.yaml")])
    values = [b"one", b"two", b"three"]
    host_, port = mqtt_address.split(":")

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client, \
                aiomqtt.Client(host_, int(port)) as mqtt:
            events: list[dict[str, str]] = []

            async def publish(payload: bytes) -> None:
                await mqtt.publish(f"{topic}/sub", payload, qos=1)

            publisher: list[asyncio.Future] = []

            async def on_open() -> None:  # the SSE response has started: publish (probes first)
                publisher.append(asyncio.ensure_future(probed(publish, lambda: bool(events), values)))

            def stop_when(got: list[dict[str, str]]) -> bool:
                events[:] = got
                return [e["data"] for e in got if not e["data"].startswith("probe-")] == ["one", "two", "three"]

            got = await sse_events(client, "/m/sse", 1000, timeout=15, on_open=on_open, stop_when=stop_when)
            await publisher[0]
            data = [e["data"] for e in got]
            assert [d for d in data if not d.startswith("probe-")] == ["one", "two", "three"]
            assert data[-3:] == ["one", "two", "three"]  # after every probe, in order
            assert all("id" in e for e in got) and len({e["id"] for e in got}) == len(got)

    run(main(), timeout=30)


@pytest.mark.nats
def test_nats_to_websocket(run, nats_address: str) -> None:
    subject = uid("nats").replace("-", ".")
    streams = f"""
        feed:
          input: {{nats: {{urls: ["nats://{nats_address}"], subject: "{subject}.>"}}}}
          output: {{http_server: {{ws_path: /ws, path: "", stream_path: "", ws_message_type: text}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/n/", streams), "n.yaml")])
    values = [b"alpha", b"beta", b"gamma"]

    async def main() -> None:
        nc = await nats.connect(f"nats://{nats_address}", connect_timeout=5)
        try:
            async with served(app) as host:
                ws = await ws_connect(f"ws://{host}/n/ws")
                got: list[str] = []
                reader = asyncio.ensure_future(drain(ws, got))  # type: ignore[arg-type]

                async def publish(payload: bytes) -> None:
                    await nc.publish(f"{subject}.x", payload)
                    await nc.flush(5)

                try:
                    await probed(publish, lambda: bool(got), values)
                    await until(lambda: [g for g in got if not g.startswith("probe-")] == ["alpha", "beta", "gamma"],
                                10)
                finally:
                    reader.cancel()
                assert all(isinstance(g, str) for g in got)  # ws_message_type: text
                assert got[-3:] == ["alpha", "beta", "gamma"]
                await ws.close()
        finally:
            await nc.close()

    run(main(), timeout=30)


# -- AMQP ------------------------------------------------------------------------------------------------------
def amqp_url(address: str) -> str:
    return f"amqp://guest:guest@{address}/"


@pytest.mark.amqp
def test_amqp_to_websocket_acks_after_delivery(run, amqp_address: str) -> None:
    queue_name = uid("queue")
    streams = f"""
        feed:
          input: {{amqp_0_9: {{urls: ["{amqp_url(amqp_address)}"], queue: "{queue_name}"}}}}
          output: {{http_server: {{ws_path: /ws, path: "", stream_path: ""}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/a/", streams), "a.yaml")])
    values = [b"q%d" % i for i in range(5)]

    async def main() -> None:
        connection = await aio_pika.connect(amqp_url(amqp_address), timeout=5)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, durable=False, auto_delete=False)
            for value in values:  # queued before the gateway starts: the broker keeps them
                await channel.default_exchange.publish(aio_pika.Message(value), routing_key=queue_name)
            async with served(app) as host:
                ws = await ws_connect(f"ws://{host}/a/ws")
                assert await asyncio.wait_for(_take(ws, len(values)), 10) == values

                async def settled() -> bool:  # every delivered message acked: none left, none unacked
                    declared = await channel.declare_queue(queue_name, passive=True)
                    return declared.declaration_result.message_count == 0

                await until(settled, 5, 0.05)
                with pytest.raises(asyncio.TimeoutError):  # nothing redelivered
                    await asyncio.wait_for(ws.recv(), 0.3)
                await ws.close()
            # After the gateway stopped (its channel closed), unacked messages would be back: none are.
            assert (await channel.declare_queue(queue_name, passive=True)).declaration_result.message_count == 0
            await queue.delete(if_unused=False, if_empty=False)
        finally:
            await connection.close()

    run(main(), timeout=30)


@pytest.mark.amqp
def test_post_to_amqp_queue(run, amqp_address: str) -> None:
    queue_name = uid("queue")
    streams = f"""
        publish:
          input: {{http_server: {{path: /publish, ws_path: ""}}}}
          output: {{amqp_0_9: {{urls: ["{amqp_url(amqp_address)}"], exchange: "", key: "{queue_name}",
                               persistent: true}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/a/", streams), "a.yaml")])
    values = [b"p%d" % i for i in range(3)]

    async def main() -> None:
        connection = await aio_pika.connect(amqp_url(amqp_address), timeout=5)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, durable=False, auto_delete=False)
            async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client:
                for value in values:
                    response = await client.post("/a/publish", content=value)
                    assert response.status_code == 200, response.text
                # 200 came after the publisher confirm: every message is already in the queue.
                got = []
                for _ in values:
                    message = await queue.get(timeout=5, fail=True)
                    await message.ack()
                    got.append(message)
            assert [m.body for m in got] == values
            assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in got)
            await queue.delete(if_unused=False, if_empty=False)
        finally:
            await connection.close()

    run(main(), timeout=30)


# -- POST -> Kafka ---------------------------------------------------------------------------------------------
@pytest.mark.kafka
def test_post_to_kafka(run, kafka_address: str) -> None:
    topic = uid("post")
    streams = f"""
        publish:
          input: {{http_server: {{path: /publish, ws_path: ""}}}}
          output: {{kafka: {{addresses: ["{kafka_address}"], topic: "{topic}", key: '${{! meta("key") }}'}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/k/", streams), "k.yaml")])
    values = [b"v%d" % i for i in range(4)]

    async def main() -> None:
        await create_topics(kafka_address, topic)
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client:
            for i, value in enumerate(values):
                response = await client.post(f"/k/publish?key=k{i}", content=value)
                assert response.status_code == 200, response.text
        got = await read_topic(kafka_address, topic, len(values))
        assert [m.value() for m in got] == values
        assert [m.key() for m in got] == [b"k%d" % i for i in range(len(values))]

    run(main(), timeout=30)
