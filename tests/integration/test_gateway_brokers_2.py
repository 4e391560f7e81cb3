"""Gateway combinations against real brokers, continued (issue 5, "Gateway combinations"): ZeroMQ -> WebSocket
and Kafka -> signed webhook, and the gateway's analytics records -> Kafka (issue 6), each served as `asyncgate serve` serves an API definition
(tests/unit/gateway/support.py `served`: Hypercorn on a free port) and checked with real clients (pyzmq,
websockets, confluent-kafka, a small HTTP receiver).

Helpers are those of tests/integration/test_gateway_brokers.py (Kafka) and test_http_client.py (the webhook
receiver and an HMAC computed here, independent of the engine's signer).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Self

import httpx
import orjson
import pytest
import zmq
import zmq.asyncio

from gateway_adapter import create_app, load_api_text
from tests.integration._local_ports import stable_port
from tests.integration.test_gateway_brokers import create_topics, drain, produce, read_topic, uid
from tests.integration.test_http_client import SECRET, Receiver, Reply, Request, independent_signature
from tests.unit.gateway.support import api_yaml, served, until, ws_connect


# -- ZeroMQ -> WebSocket ---------------------------------------------------------------------------------------
def test_zmq_to_websocket_in_order(run) -> None:
    port = stable_port()
    url = f"tcp://127.0.0.1:{port}"
    streams = f"""
        feed:
          input: {{zmq4: {{urls: ["{url}"], bind: true, socket_type: PULL}}}}
          output: {{http_server: {{ws_path: /ws, path: "", stream_path: ""}}}}
    """
    app = create_app(apis=[load_api_text(api_yaml("/z/", streams), "z.yaml")])
    early = [b"early-%d" % i for i in range(3)]  # sent before any client: the output holds them (backpressure)
    late = [b"late-%d" % i for i in range(20)]
    multipart = [b"part-a", b"part-b"]           # one ZeroMQ message of two parts: one batch, two frames

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        try:
            async with served(app) as host:
                # The gateway's PULL socket is bound once the stream runs; a connecting PUSH queues until then.
                push.connect(url)
                for value in early:
                    await asyncio.wait_for(push.send(value), 5)
                ws = await ws_connect(f"ws://{host}/z/ws")
                got: list[bytes] = []
                reader = asyncio.ensure_future(drain(ws, got))
                try:
                    await until(lambda: len(got) >= len(early), 10)
                    for value in late:
                        await asyncio.wait_for(push.send(value), 5)
                    await asyncio.wait_for(push.send_multipart(multipart), 5)
                    expected = early + late + multipart
                    await until(lambda: len(got) >= len(expected), 10)
                    await asyncio.sleep(0.2)  # nothing more (no duplicates) comes
                finally:
                    reader.cancel()
                assert got == expected  # every message, once, in the order sent
                assert all(isinstance(g, bytes) for g in got)  # ws_message_type: binary (the default)
                await ws.close()
        finally:
            push.close(0)
            ctx.term()

    run(main(), timeout=30)


# -- Kafka -> signed webhook -----------------------------------------------------------------------------------
@dataclass
class Sample:
    started: float   # time.monotonic() before the offset fetch was sent
    finished: float  # ... and after its answer came
    offset: int      # the group's committed offset (-1001: none)


class CommittedWatcher:
    """Polls a consumer group's committed offset of one partition in a thread (confluent-kafka blocks), keeping
    every sample with its time window. `committed()` only fetches offsets: it does not join the group."""

    def __init__(self, address: str, group: str, topic: str) -> None:
        self.address, self.group, self.topic = address, group, topic
        self.samples: list[Sample] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.address, "group.id": self.group,
                             "enable.auto.commit": False})
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                [tp] = consumer.committed([TopicPartition(self.topic, 0)], timeout=5)
                self.samples.append(Sample(started, time.monotonic(), tp.offset))
                self._stop.wait(0.02)
        except Exception as exc:  # noqa: BLE001 -- reported to the test through `latest`
            self.error = exc
        finally:
            consumer.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()

    @property
    def latest(self) -> int | None:
        assert self.error is None, self.error
        return self.samples[-1].offset if self.samples else None


@pytest.mark.kafka
def test_kafka_to_signed_webhook_with_a_receiver_that_fails_first(run, kafka_address: str) -> None:
    topic, group = uid("hook"), uid("group")
    values = [b'{"order":"o-%d"}' % i for i in range(3)]

    # Each message (known by its webhook-id) is refused twice, then accepted.
    attempts: dict[str, int] = {}
    log: list[tuple[float, int, Request]] = []  # (time.monotonic(), status answered, request), in order

    def handler(request: Request, _n: int) -> Reply:
        msg_id = request.headers.get("webhook-id", "")
        attempts[msg_id] = attempts.get(msg_id, 0) + 1
        reply: Reply = {1: (500, {}, b"down"), 2: (429, {"Retry-After": "1"}, b"slow down")}.get(
            attempts[msg_id], (200, {}, b""))
        log.append((time.monotonic(), reply[0], request))
        return reply

    async def main() -> None:
        await create_topics(kafka_address, topic)
        async with Receiver(handler) as rx:
            streams = f"""
                hooks:
                  input:
                    kafka: {{addresses: ["{kafka_address}"], topics: ["{topic}"], consumer_group: "{group}",
                             commit_period: 50ms}}
                  output:
                    http_client:
                      url: {rx.url}/hooks
                      verb: POST
                      headers: {{Content-Type: application/json}}
                      retry_period: 50ms
                      max_retry_backoff: 3s
                      webhook_signing: {{secret: "{SECRET}"}}
            """
            app = create_app(apis=[load_api_text(api_yaml("/w/", streams), "w.yaml")])
            with CommittedWatcher(kafka_address, group, topic) as watcher:
                await until(lambda: watcher.latest is not None, 15)
                assert watcher.latest == -1001  # a new group: nothing committed yet
                async with served(app) as _host:
                    await produce(kafka_address, topic, values)
                    await rx.wait_for(3 * len(values), 25)
                    # Committed once the last webhook was accepted (commit_period 50ms).
                    await until(lambda: watcher.latest == len(values), 10)
                    await asyncio.sleep(0.3)  # nothing more (no duplicate delivery) comes
                requests = list(rx.requests)
                samples = list(watcher.samples)

        # Three attempts per message (500, 429, then 200), and nothing else: each accepted exactly once.
        assert len(requests) == 3 * len(values)
        assert [r.body for _t, status, r in log if status == 200] == values  # one partition: in order
        accepted_at = [t for t, status, _r in log if status == 200]
        by_body: dict[bytes, list[Request]] = {}
        for r in requests:
            by_body.setdefault(r.body, []).append(r)
        assert sorted(by_body) == sorted(values)
        for body, tries in by_body.items():
            assert len(tries) == 3, body
            # The webhook-id stays the same across the attempts of one message, and differs between messages.
            assert len({t.headers["webhook-id"] for t in tries}) == 1
            for t in tries:  # Standard Webhooks: verified with an HMAC computed here
                assert t.method == "POST" and t.path == "/hooks"
                assert t.headers["webhook-signature"] == independent_signature(
                    t.headers["webhook-id"], t.headers["webhook-timestamp"], t.body)
            assert tries[2].at - tries[1].at >= 0.9  # the 429's Retry-After: 1 was honoured
        assert len({tries[0].headers["webhook-id"] for tries in by_body.values()}) == len(values)
        assert sorted(attempts.values()) == [3] * len(values)

        # The committed offset never ran ahead of the accepted webhooks: a fetch that saw offset k (k messages
        # done) finished after the k-th acceptance.
        for sample in samples:
            if sample.offset > 0:
                assert sample.finished > accepted_at[sample.offset - 1], (sample, accepted_at)
        # While the first message was being refused (its first attempt to its acceptance, > 1s for the
        # Retry-After), fetches done entirely inside that window saw nothing committed.
        first_try = log[0][0]
        assert accepted_at[0] - first_try >= 0.9
        window = [s for s in samples if first_try < s.started and s.finished < accepted_at[0]]
        assert window, "no committed-offset sample while the first webhook was being retried"
        assert all(s.offset == -1001 for s in window), window
        assert samples[-1].offset == len(values)

    run(main(), timeout=60)


# -- analytics -> Kafka ----------------------------------------------------------------------------------------
@pytest.mark.kafka
def test_analytics_records_are_written_to_a_kafka_topic(run, kafka_address: str) -> None:
    """The gateway config's `analytics.output` takes any output: here a real Kafka topic receives a record per
    request, refused ones included (issue 6, "Observability and analytics")."""
    topic = uid("analytics")
    app = create_app(apis=[load_api_text(api_yaml("/t/", "s:\n  input: {http_server: {path: /in}}\n"
                                                          "  output: {drop: {}}\n"), "t.yaml")],
                     config={"analytics": {"output": {"kafka": {"addresses": [kafka_address], "topic": topic}}}})

    async def main() -> None:
        await create_topics(kafka_address, topic)
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.post("/t/in", content=b"one")).status_code == 200
            assert (await client.get("/t/in")).status_code == 405
            assert (await client.get("/t/nowhere")).status_code == 404
            records = [orjson.loads(m.value()) for m in await read_topic(kafka_address, topic, 3)]
        assert [(r["method"], r["path"], r["status"]) for r in records] == [
            ("POST", "/t/in", 200), ("GET", "/t/in", 405), ("GET", "/t/nowhere", 404)]
        assert records[0]["api_id"] == "t" and records[0]["bytes_in"] == 3

    run(main(), timeout=60)
