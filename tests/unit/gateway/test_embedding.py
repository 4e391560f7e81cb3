"""The gateway mounted inside another Starlette app: the documented example run as a process, the lifespan
passed on, and the lazy start when the host does not pass it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import httpx
import orjson
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from gateway_adapter import create_app, load_api_text

from .support import PYTHON, ROOT, api_yaml, free_port, recv, served, sse_events, until, wait_port, ws_connect

ECHO = """
echo:
  input: {http_server: {path: /echo, ws_path: ""}}
  pipeline: {processors: [{mapping: 'root = "echo:" + content().string()'}]}
  output: {sync_response: {}}
feed:
  input: {http_server: {path: /publish, ws_path: ""}}
  output: {http_server: {ws_path: /ws, path: "", stream_path: "", fan_out: broadcast}}
"""


def test_the_embedding_example_runs(run) -> None:
    port = free_port()
    process = subprocess.Popen([PYTHON, "examples/embed_starlette.py"], cwd=ROOT, env={**os.environ, "PORT": str(port)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    async def main() -> None:
        await wait_port(port, 20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            home = await client.get("/")
            assert home.status_code == 200 and home.json() == {"app": "host", "gateway": "/gw", "streams": 2}
            assert (await client.get("/gw/readyz")).json()["status"] == "ready"

            async def say() -> None:
                response = await client.post("/gw/clock/say", content=b"hello")
                assert response.status_code == 200

            saying: list[asyncio.Task[None]] = []

            async def on_open() -> None:
                saying.append(asyncio.ensure_future(say()))

            def said_and_ticked(events: list[dict[str, str]]) -> bool:
                payloads = [orjson.loads(e["data"]) for e in events]
                return {"said": "hello"} in payloads and any("now" in p for p in payloads)

            events = await sse_events(client, "/gw/clock/sse", 30, on_open=on_open, stop_when=said_and_ticked,
                                      timeout=15)
            await saying[0]
            assert said_and_ticked(events)
            ws = await ws_connect(f"ws://127.0.0.1:{port}/gw/clock/ws")
            assert "now" in orjson.loads(await recv(ws))
            await ws.close()
            missing = await client.get("/gw/nothing")
            assert missing.status_code == 404 and missing.json()["detail"] == "no API serves /nothing"

    try:
        run(main(), timeout=30)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def host_app(gateway_app: object, *, with_lifespan: bool) -> Starlette:
    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("host")

    lifespan = gateway_app.state.gateway.lifespan if with_lifespan else None  # type: ignore[attr-defined]
    return Starlette(routes=[Route("/", home), Mount("/gw", app=gateway_app)], lifespan=lifespan)


def test_mounted_with_the_gateway_lifespan(run) -> None:
    gateway_app = create_app(apis=[load_api_text(api_yaml("/e/", ECHO, api_id="e"), "e.yaml")])
    gateway = gateway_app.state.gateway
    app = host_app(gateway_app, with_lifespan=True)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert gateway.started  # by the host's lifespan, before any request
            assert (await client.get("/")).text == "host"
            echoed = await client.post("/gw/e/echo", content=b"x")
            assert (echoed.status_code, echoed.text) == (200, "echo:x")
            ws = await ws_connect(f"ws://{host}/gw/e/ws")
            await until(lambda: any(i["active_connections"] for i in gateway.instances()))
            assert (await client.post("/gw/e/publish", content=b"m")).status_code == 200
            assert await recv(ws) == b"m"
            await ws.close()
            assert (await client.post("/e/echo", content=b"x")).status_code == 404  # only under the mount
        assert gateway.stopped and all(i["state"] == "stopped" for i in gateway.instances())

    run(main())


def test_mounted_without_a_lifespan_starts_on_the_first_request(run) -> None:
    gateway_app = create_app(apis=[load_api_text(api_yaml("/e/", ECHO, api_id="e"), "e.yaml")])
    gateway = gateway_app.state.gateway
    app = host_app(gateway_app, with_lifespan=False)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.get("/")).text == "host"
            assert not gateway.started  # the host's own routes do not start it
            echoed = await client.post("/gw/e/echo", content=b"y")
            assert (echoed.status_code, echoed.text) == (200, "echo:y")
            assert gateway.started
        await gateway.stop()  # what the host should have had its lifespan do

    run(main())


def test_endpoint_apps_see_the_path_below_the_listen_path(run) -> None:
    """A tiny ASGI app registered in a stream instance's RouteTable (as http_server components register
    theirs) gets the path below the listen path, and a root_path made of the mount and the listen path."""
    gateway_app = create_app(apis=[load_api_text(api_yaml("/e/", ECHO, api_id="e"), "e.yaml")])
    gateway = gateway_app.state.gateway
    app = host_app(gateway_app, with_lifespan=True)

    async def probe(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        body = orjson.dumps({k: scope[k] for k in ("path", "root_path", "query_string", "asyncgate")},
                            default=lambda v: v.decode() if isinstance(v, bytes) else str(v))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            runtime = gateway.apis["e"]
            runtime.static["echo"].routes.add("/deep/probe", probe, owner="test")
            runtime.paths[("http", "/deep/probe")] = "echo"
            seen = (await client.get("/gw/e/deep/probe?x=1")).json()
            assert seen == {"path": "/deep/probe", "root_path": "/gw/e", "query_string": "x=1",
                            "asyncgate": {"api": "e", "stream": "echo", "instance": "e/echo", "context": {}}}

    run(main())
