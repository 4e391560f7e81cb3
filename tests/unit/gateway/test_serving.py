"""The gateway app on a real socket: every endpoint kind through an API's listen path, with real clients."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from engine.errors import ConfigError
from gateway_adapter import create_app, load_api_text
from gateway_adapter.api_runtime import BuildError
from gateway_adapter.gateway import Gateway

from .support import api_yaml, recv, served, sse_events, until, ws_connect

FEED = """
feed:
  input: {http_server: {path: /publish, ws_path: /publish/ws}}
  output:
    http_server: {ws_path: /ws, stream_path: /sse, stream_format: event_source, path: /poll, timeout: 300ms,
                  fan_out: %s}
"""


def app_for(*documents: str, **kw: object) -> object:
    return create_app(apis=[load_api_text(d, f"api{i}.yaml") for i, d in enumerate(documents)], **kw)


def clients(app: object, kind: str = "ws") -> int:
    gateway: Gateway = app.state.gateway  # type: ignore[attr-defined]
    return sum(c["stats"].get("clients_by_kind", {}).get(kind, 0)
               for i in gateway.instances() for c in i["components"])


def test_websocket_and_sse_subscribers_get_what_is_posted(run) -> None:
    app = app_for(api_yaml("/t/", FEED % "broadcast"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            ws = await ws_connect(f"ws://{host}/t/ws")
            sse_open = asyncio.Event()

            async def opened() -> None:
                sse_open.set()

            reading = asyncio.ensure_future(sse_events(client, "/t/sse", 2, on_open=opened))
            await asyncio.wait_for(sse_open.wait(), 5)
            await until(lambda: clients(app, "stream") == 1 and clients(app, "ws") == 1)
            first = await client.post("/t/publish", content=b"hello")
            assert first.status_code == 200, first.text
            assert await recv(ws) == b"hello"
            second = await client.post("/t/publish", content=b"world")
            assert second.status_code == 200
            assert await recv(ws) == b"world"
            events = await reading
            assert [(e["id"], e["data"]) for e in events] == [("1", "hello"), ("2", "world")]
            await ws.close()

    run(main())


def test_long_poll_returns_one_message_or_408(run) -> None:
    app = app_for(api_yaml("/t/", FEED % "round_robin"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            empty = await client.get("/t/poll")
            assert empty.status_code == 408
            assert empty.headers["content-type"] == "application/problem+json"
            poll = asyncio.ensure_future(client.get("/t/poll"))
            await until(lambda: clients(app, "poll") == 1)
            assert (await client.post("/t/publish", content=b"one")).status_code == 200
            answer = await poll
            assert answer.status_code == 200
            assert answer.content == b"one"

    run(main())


def test_round_robin_gives_each_message_to_exactly_one_client(run) -> None:
    app = app_for(api_yaml("/t/", FEED % "round_robin"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            a = await ws_connect(f"ws://{host}/t/ws")
            b = await ws_connect(f"ws://{host}/t/ws")
            await until(lambda: clients(app) == 2)
            for i in range(6):
                assert (await client.post("/t/publish", content=f"m{i}".encode())).status_code == 200
            got_a = [await recv(a) for _ in range(3)]
            got_b = [await recv(b) for _ in range(3)]
            assert sorted(got_a + got_b) == [f"m{i}".encode() for i in range(6)]
            assert got_a and got_b and not set(got_a) & set(got_b)
            for ws in (a, b):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.2)  # nothing more: each message went once
                await ws.close()

    run(main())


def test_unknown_paths_get_404_problems(run) -> None:
    app = app_for(api_yaml("/t/", FEED % "broadcast"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            for path, detail in [("/nowhere", "no API serves /nowhere"), ("/t/nope", "no endpoint at /t/nope")]:
                response = await client.get(path)
                assert response.status_code == 404
                assert response.headers["content-type"] == "application/problem+json"
                body = response.json()
                assert body["status"] == 404 and body["title"] == "Not Found" and body["detail"] == detail
            plain = await client.get("/t/ws")  # a WebSocket endpoint asked for with plain HTTP
            assert plain.status_code == 404 and "WebSocket endpoint" in plain.json()["detail"]
            with pytest.raises(InvalidStatus) as denied:
                await ws_connect(f"ws://{host}/t/nope")
            assert denied.value.response.status_code == 404
            assert b"no endpoint at /t/nope" in denied.value.response.body
            with pytest.raises(InvalidStatus) as denied:
                await ws_connect(f"ws://{host}/elsewhere/ws")
            assert denied.value.response.status_code == 404

    run(main())


@pytest.mark.parametrize("observed", [True, False], ids=["observed", "unobserved"])
def test_a_handler_that_fails_before_answering_gives_a_json_problem_500(run, monkeypatch, observed) -> None:
    from gateway_adapter.api_runtime import ApiRuntime

    async def failing(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ApiRuntime, "handle", failing)
    settings = {} if observed else {"metrics": {"enabled": False}, "analytics": {"enabled": False}}
    app = app_for(api_yaml("/t/", FEED % "broadcast"), config=settings)
    assert (app.state.gateway.traffic is not None) == observed  # type: ignore[attr-defined]

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            response = await client.post("/t/publish", content=b"x")
            assert response.status_code == 500
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["title"] == "Internal Server Error" and "boom" not in response.text
            with pytest.raises(InvalidStatus):  # refused, and the server goes on serving
                await ws_connect(f"ws://{host}/t/publish/ws")
            assert (await client.get("/healthz")).status_code == 200

    run(main())


ECHO = """
echo:
  input: {http_server: {path: %s, ws_path: ""}}
  pipeline: {processors: [{mapping: 'root = "%s:" + content().string()'}]}
  output: {sync_response: {}}
"""


def test_longest_listen_path_wins_and_strip_is_honoured(run) -> None:
    app = app_for(api_yaml("/a/", ECHO % ("/echo", "a"), api_id="a"),
                  api_yaml("/a/b/", ECHO % ("/echo", "b"), api_id="b"),
                  api_yaml("/full/", ECHO % ("/full/echo", "full"), api_id="full", strip=False),
                  api_yaml("/off/", ECHO % ("/echo", "off"), api_id="off", active=False),
                  api_yaml("/", ECHO % ("/root-echo", "root"), api_id="root"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def post(path: str) -> tuple[int, str]:
                response = await client.post(path, content=b"x")
                return response.status_code, response.text

            assert await post("/a/echo") == (200, "a:x")
            assert await post("/a/b/echo") == (200, "b:x")
            assert (await post("/a/bb/echo"))[0] == 404  # /a/bb is not under /a/b: API a, which has no /bb/echo
            assert (await post("/full/echo")) == (200, "full:x")
            assert (await post("/off/echo"))[0] == 404  # inactive: not served (the root API has no /off/echo)
            assert await post("/root-echo") == (200, "root:x")
            assert (await client.get("/healthz")).json() == {"status": "ok"}

    run(main())


def test_apis_that_collide_are_refused_with_located_errors() -> None:
    first = load_api_text(api_yaml("/same/", ECHO % ("/e", "1"), api_id="one"), "one.yaml")
    second = load_api_text(api_yaml("/same", ECHO % ("/e", "2"), api_id="two"), "two.yaml")
    with pytest.raises(ConfigError) as exc:
        create_app(apis=[first, second])
    (diagnostic,) = exc.value.diagnostics
    assert str(diagnostic).startswith("two.yaml:6:")
    assert 'listen path "/same" is already served by API "one" (one.yaml:6:' in diagnostic.message
    third = load_api_text(api_yaml("/other/", ECHO % ("/e", "3"), api_id="one"), "three.yaml")
    with pytest.raises(ConfigError, match='API id "one" is also the id of the API in one.yaml'):
        create_app(apis=[first, third])


def test_two_streams_on_one_path_fail_the_start(run) -> None:
    streams = (ECHO % ("/e", "1")) + (ECHO % ("/e", "2")).replace("echo:", "echo2:")
    gateway = Gateway(apis=[load_api_text(api_yaml("/t/", streams), "t.yaml")])

    async def main() -> None:
        with pytest.raises(BuildError, match='streams "echo" and "echo2" both serve the http path /e'):
            await gateway.start()

    run(main())


def test_readyz_waits_for_the_streams_and_healthz_does_not(run) -> None:
    app = app_for(api_yaml("/t/", FEED % "broadcast"))
    gateway: Gateway = app.state.gateway  # type: ignore[attr-defined]

    async def main() -> None:
        assert gateway.not_ready() == ["the gateway has not started"]
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            await until(lambda: not gateway.not_ready())
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready", "apis": 1}
            instance_obj = gateway.apis["t"].static["feed"]
            instance_obj.ready.clear()  # as if it lost its connection
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["waiting_for"] == ["t/feed: running"]
            assert (await client.get("/healthz")).status_code == 200
            instance_obj.ready.set()

    run(main())


def test_websocket_clients_are_closed_with_1001_on_shutdown(run) -> None:
    app = app_for(api_yaml("/t/", FEED % "broadcast"))

    async def main() -> None:
        async with served(app) as host:
            ws = await ws_connect(f"ws://{host}/t/ws")
            await until(lambda: clients(app) == 1)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001

    run(main())


DOWN = """
sub:
  input: {memkafka: {addresses: ["down:9092"], topics: [t], consumer_group: g}}
  output: {http_server: {ws_path: /ws, path: /poll, stream_path: ""}}
"""


def test_a_stream_that_cannot_connect_is_retried_reported_and_stops_promptly(run, kafka) -> None:
    app = create_app(apis=[load_api_text(api_yaml("/d/", DOWN), "d.yaml")], config={"connect_timeout": "200ms"})
    gateway: Gateway = app.state.gateway  # type: ignore[attr-defined]

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            instance = gateway.apis["t"].static["sub"]
            await until(lambda: instance.error, 5)
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            (waiting,) = ready.json()["waiting_for"]
            assert waiting == ("t/sub: connecting (input memkafka at x-tyk-streaming.streams.sub.input.memkafka: "
                               "cannot connect: connection refused by down:9092)")
            poll = await client.get("/d/poll")
            assert poll.status_code == 503 and poll.headers["retry-after"] == "1"
            assert "stream sub of API t is not connected (input memkafka" in poll.json()["detail"]
            loop = asyncio.get_running_loop()
            started = loop.time()
        assert loop.time() - started < 3  # no drain to wait for: it never read anything
        assert instance.state == "stopped"

    run(main())


def test_an_api_whose_authentication_cannot_be_checked_is_served_closed(run) -> None:
    """Authentication on with no scheme AsyncGate can check (here: OAuth 2, not implemented, or no `security`
    at all): every request is refused with 401 before any stream is touched — closed by default."""
    oauth = ("components:\n  securitySchemes:\n    oauth: {type: oauth2, flows: {}}\n"
             "security:\n  - oauth: []\n")
    for extra, unimplemented in ((oauth, "oauth"), ("", "")):
        document = api_yaml("/t/", FEED % "broadcast").replace(
            "  server: {listenPath: {value: '/t/', strip: true}}\n",
            "  server:\n    listenPath: {value: '/t/', strip: true}\n    authentication: {enabled: true}\n") + extra
        api = load_api_text(document, "api.yaml")
        assert api.requires_auth and api.auth.closed
        assert any("served closed" in w.message for w in api.warnings)
        app = create_app(apis=[api])

        async def main(app: object = app, unimplemented: str = unimplemented) -> None:
            async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
                posted = await client.post("/t/publish", content=b"hello", headers={"authorization": "Bearer x.y.z"})
                assert posted.status_code == 401
                assert posted.headers["content-type"] == "application/problem+json"
                assert posted.headers["www-authenticate"].startswith("Bearer")
                detail = posted.json()["detail"]
                assert "requires authentication that this gateway does not implement yet" in detail
                assert unimplemented in detail
                with pytest.raises(InvalidStatus) as refused:
                    await websockets.connect(f"ws://{host}/t/ws")
                assert refused.value.response.status_code in (401, 403)
                assert clients(app) == 0  # no stream saw the refused subscriber

        run(main())
