"""Streams whose configs mention `$tyk_context.*`: one instance per distinct rendering, shared, retired when idle;
and Tyk's own end-to-end example (docs: "Tyk Streams End-to-End Example") with an in-memory Kafka."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from gateway_adapter import create_app, load_api_text
from gateway_adapter.gateway import Gateway

from .support import api_yaml, recv, served, until, ws_connect

# Each subscriber group (here: ?group=...) gets its own instance, so its own full copy of the topic.
PER_GROUP = """
out:
  input:
    memkafka: {addresses: [localhost:9092], topics: [events], consumer_group: $tyk_context.request_data_group}
  pipeline:
    processors:
      - mapping: 'root = content().string() + " for $tyk_context.request_data_group"'
  output: {http_server: {ws_path: /ws, path: /poll, stream_path: "", timeout: 300ms}}
publish:
  input: {http_server: {path: /publish, ws_path: ""}}
  output: {memkafka: {topic: events}}
"""


async def _collect(ws, into: list) -> None:
    while True:
        into.append(await ws.recv())


def gateway_of(app: object) -> Gateway:
    return app.state.gateway  # type: ignore[attr-defined]


def dynamic(gateway: Gateway) -> list[dict]:
    return [i for i in gateway.instances() if i["context"]]


def test_each_rendering_gets_its_own_instance_and_a_full_copy(run, kafka) -> None:
    app = create_app(apis=[load_api_text(api_yaml("/t/", PER_GROUP, context=True), "t.yaml")])
    gateway = gateway_of(app)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            for text in (b"one", b"two"):
                assert (await client.post("/t/publish", content=text)).status_code == 200
            a1 = await ws_connect(f"ws://{host}/t/ws?group=a")
            a2 = await ws_connect(f"ws://{host}/t/ws?group=a")
            b = await ws_connect(f"ws://{host}/t/ws?group=b")
            # group a: one instance shared by both clients (round robin between them), b: its own copy
            got_b = [await recv(b), await recv(b)]
            assert got_b == [b"one for b", b"two for b"]
            got_a: list[bytes] = []
            readers = [asyncio.ensure_future(_collect(ws, got_a)) for ws in (a1, a2)]
            await until(lambda: len(got_a) == 2)
            assert sorted(got_a) == [b"one for a", b"two for a"]  # each message once within the group
            for reader in readers:
                reader.cancel()
            instances = dynamic(gateway)
            assert sorted(i["context"]["request_data_group"] for i in instances) == ["a", "b"]
            assert {i["state"] for i in instances} == {"running"}
            a_instance = next(i for i in instances if i["context"]["request_data_group"] == "a")
            assert a_instance["active_connections"] == 2
            # A long-poll of group a is served by the same instance (nothing left for it: 408).
            poll = await client.get("/t/poll?group=a", timeout=5)
            assert poll.status_code == 408
            assert len(dynamic(gateway)) == 2
            for ws in (a1, a2, b):
                await ws.close()

    run(main())


def test_idle_instances_are_retired_and_recreated(run, kafka) -> None:
    app = create_app(apis=[load_api_text(api_yaml("/t/", PER_GROUP, context=True), "t.yaml")],
                     config={"idle_timeout": "200ms"})
    gateway = gateway_of(app)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.post("/t/publish", content=b"x")).status_code == 200
            ws = await ws_connect(f"ws://{host}/t/ws?group=a")
            assert await recv(ws) == b"x for a"
            await asyncio.sleep(0.5)  # idle_timeout passes, but a client is still connected
            assert len(dynamic(gateway)) == 1
            await ws.close()
            await until(lambda: not dynamic(gateway), 5)  # retired once idle
            # A new request renders the same: a new instance (a new consumer of group a: nothing new).
            poll = await client.get("/t/poll?group=a")
            assert poll.status_code == 408
            assert (await client.post("/t/publish", content=b"y")).status_code == 200
            ws = await ws_connect(f"ws://{host}/t/ws?group=a")
            assert await recv(ws) == b"y for a"
            await ws.close()

    run(main())


def test_request_id_gives_every_connection_its_own_copy_at_once_retired(run, kafka) -> None:
    streams = PER_GROUP.replace("$tyk_context.request_data_group", "$tyk_context.request_id")
    app = create_app(apis=[load_api_text(api_yaml("/t/", streams, context=True), "t.yaml")])
    gateway = gateway_of(app)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.post("/t/publish", content=b"m")).status_code == 200
            first = await ws_connect(f"ws://{host}/t/ws")
            second = await ws_connect(f"ws://{host}/t/ws")
            one, two = (await recv(first)).decode(), (await recv(second)).decode()
            assert one.startswith("m for ") and two.startswith("m for ") and one != two
            assert len(dynamic(gateway)) == 2
            await first.close()
            await second.close()
            await until(lambda: not dynamic(gateway), 5)

    run(main())


def test_context_values_that_could_break_out_are_refused(run, kafka) -> None:
    app = create_app(apis=[load_api_text(api_yaml("/t/", PER_GROUP, context=True), "t.yaml")])

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            response = await client.get("/t/poll", params={"group": 'x" + env("HOME") + "'})
            assert response.status_code == 400
            assert response.headers["content-type"] == "application/problem+json"
            assert "request_data_group" in response.json()["detail"]
            assert not dynamic(gateway_of(app))

    run(main())


def test_too_many_instances_get_503(run, kafka) -> None:
    app = create_app(apis=[load_api_text(api_yaml("/t/", PER_GROUP, context=True), "t.yaml")],
                     config={"max_instances_per_stream": 1})

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            ws = await ws_connect(f"ws://{host}/t/ws?group=a")
            await until(lambda: dynamic(gateway_of(app)))
            response = await client.get("/t/poll?group=b")
            assert response.status_code == 503 and "max_instances_per_stream" in response.json()["detail"]
            await ws.close()

    run(main())


def test_without_context_variables_enabled_the_text_is_literal(run, kafka) -> None:
    app = create_app(apis=[load_api_text(api_yaml("/t/", PER_GROUP, context=False), "t.yaml")])
    gateway = gateway_of(app)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.post("/t/publish", content=b"z")).status_code == 200
            ws = await ws_connect(f"ws://{host}/t/ws?group=a")
            assert await recv(ws) == b"z for $tyk_context.request_data_group"
            assert not dynamic(gateway) and len(gateway.instances()) == 2
            await ws.close()

    run(main())


# Tyk's end-to-end example as published (OpenAPI + x-tyk-streaming), Kafka replaced by memkafka.
TYK_END_TO_END = """
info:
  title: streams-demo
  version: 1.0.0
openapi: 3.0.3
servers:
  - url: http://tyk-gateway:8282/stream-demo/
x-tyk-streaming:
  streams:
    Worker:
      input:
        memkafka:
          addresses:
            - localhost:9093
          consumer_group: worker
          topics:
            - jobs
      output:
        memkafka:
          addresses:
            - localhost:9093
          topic: completed
      pipeline:
        processors:
          - mapping: |
              root = this.merge({ "result": "bar" })
    in:
      input:
        http_server:
          path: /push-event
          ws_path: /ws-out
      output:
        broker:
          outputs:
            - memkafka:
                addresses:
                  - localhost:9093
                topic: jobs
            - sync_response: {}
      pipeline:
        processors:
          - mapping: |
              root = this
              root.user_id = "$tyk_context.request_data_user"  # or $tyk_context.jwt.claims.sub
              root.job_id = uuid_v4()
    out:
      input:
        memkafka:
          addresses:
            - localhost:9093
          consumer_group: $tyk_context.request_data_user
          topics:
            - completed
      output:
        http_server:
          path: /get-event
          ws_path: /ws-in
      pipeline:
        processors:
          - mapping: |
              root = if this.user_id != "$tyk_context.request_data_user" {
                deleted()
              }
security: []
paths: {}
components:
  securitySchemes: {}
x-tyk-api-gateway:
  info:
    name: stream-demo
    state:
      active: true
      internal: false
  middleware:
    global:
      contextVariables:
        enabled: true
      trafficLogs:
        enabled: true
  server:
    listenPath:
      strip: true
      value: /stream-demo/
  upstream:
    proxy:
      enabled: false
      url: ""
"""


def test_tyk_end_to_end_example_delivers_each_user_only_their_results(run, kafka) -> None:
    api = load_api_text(TYK_END_TO_END, "streams-demo.yaml")
    assert api.id == "stream-demo" and api.context_variables
    assert [w.message.split(":")[0] for w in api.warnings] == [
        "$tyk_context.jwt",  # the example's comment mentions `$tyk_context.jwt.claims.sub`
        "x-tyk-api-gateway.middleware.global.trafficLogs",
    ]
    # bob's last result waits for a subscriber of his that never comes: stopping gives up after 500ms.
    app = create_app(apis=[api], config={"shutdown_timeout": "500ms"})
    gateway = gateway_of(app)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def push(user: str, message: str) -> dict:
                response = await client.post(f"/stream-demo/push-event?user={user}",
                                             json={"message": message})
                assert response.status_code == 200, response.text
                return response.json()  # the sync response: the event as published

            alice1 = await push("alice", "hello world")
            assert alice1["user_id"] == "alice" and alice1["message"] == "hello world" and alice1["job_id"]
            bob1 = await push("bob", "hi")
            assert bob1["user_id"] == "bob"
            got = await client.get("/stream-demo/get-event?user=alice")
            assert got.status_code == 200
            assert orjson.loads(got.content) == {**alice1, "result": "bar"}
            got = await client.get("/stream-demo/get-event?user=bob")
            assert orjson.loads(got.content) == {**bob1, "result": "bar"}
            # Over a WebSocket: alice sees her next result and never bob's.
            ws = await ws_connect(f"ws://{host}/stream-demo/ws-in?user=alice")
            await push("bob", "not for alice")
            alice2 = await push("alice", "second")
            assert orjson.loads(await recv(ws)) == {**alice2, "result": "bar"}
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
            await ws.close()
            contexts = sorted((i["stream"], i["context"].get("request_data_user", "")) for i in dynamic(gateway))
            assert contexts == [("in", "alice"), ("in", "bob"), ("out", "alice"), ("out", "bob")]
            static = [i["stream"] for i in gateway.instances() if not i["context"]]
            assert static == ["Worker"]

    run(main(), timeout=20)


def test_tyk_example_with_inproc_pipes_for_one_user(run) -> None:
    """The same example with `inproc` in place of Kafka: the instances talk through the gateway's one hub."""
    text = (TYK_END_TO_END
            .replace("memkafka:\n          addresses:\n            - localhost:9093\n          consumer_group: worker\n"
                     "          topics:\n            - jobs", "inproc: jobs")
            .replace("memkafka:\n          addresses:\n            - localhost:9093\n          topic: completed",
                     "inproc: completed")
            .replace("memkafka:\n                addresses:\n                  - localhost:9093\n"
                     "                topic: jobs", "inproc: jobs")
            .replace("memkafka:\n          addresses:\n            - localhost:9093\n"
                     "          consumer_group: $tyk_context.request_data_user\n          topics:\n"
                     "            - completed", "inproc: completed"))
    assert "memkafka" not in text
    app = create_app(apis=[load_api_text(text, "streams-demo-inproc.yaml")])

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            ws = await ws_connect(f"ws://{host}/stream-demo/ws-in?user=carol")
            await until(lambda: dynamic(gateway_of(app)))
            response = await client.post("/stream-demo/push-event?user=carol", json={"n": 1})
            assert response.status_code == 200, response.text
            published = response.json()
            assert published["user_id"] == "carol"
            assert orjson.loads(await recv(ws)) == {**published, "result": "bar"}
            await ws.close()

    run(main(), timeout=20)
