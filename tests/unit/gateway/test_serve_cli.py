"""`asyncgate serve` as a real process: APIs from files and directories, the demo, --watch, --config,
--workers, located errors, and a clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import AsyncIterator

import httpx
import orjson
import pytest
import websockets

from .support import PYTHON, ROOT, api_yaml, free_port, recv, sse_events, until, wait_port, ws_connect

ECHO = """
echo:
  input: {http_server: {path: /echo, ws_path: ""}}
  pipeline: {processors: [{mapping: 'root = "%s:" + content().string()'}]}
  output: {sync_response: {}}
"""
FEED = """
feed:
  input: {http_server: {path: /publish, ws_path: ""}}
  output: {http_server: {ws_path: /ws, path: "", stream_path: "", fan_out: broadcast}}
"""


class Server:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.stdout: list[str] = []
        self.stderr = b""

    async def read_banner(self, timeout: float = 20) -> str:
        assert self.process.stdout is not None

        async def read() -> None:
            while True:
                line = await self.process.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise AssertionError("the server exited: " + "".join(self.stdout))
                self.stdout.append(line.decode())
                if line.startswith(b"Press Ctrl-C"):
                    return

        await asyncio.wait_for(read(), timeout)
        return "".join(self.stdout)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        self.process.send_signal(sig)
        _, self.stderr = await asyncio.wait_for(self.process.communicate(), timeout)
        return self.process.returncode  # type: ignore[return-value]


@contextlib.asynccontextmanager
async def serve(*args: str, env: dict[str, str] | None = None, banner: bool = True) -> AsyncIterator[Server]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "ASYNCGATE_ADMIN_SECRET"}
    process = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "engine", "serve", "--port", str(port), *args, cwd=ROOT, env={**environment, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    server = Server(process, port)
    try:
        if banner:
            await server.read_banner()
        await wait_port(port, 20)
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "engine", "serve", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_serves_a_directory_of_apis_and_drains_on_sigterm(run, tmp_path: Path) -> None:
    apis = tmp_path / "apis"
    apis.mkdir()
    (apis / "a.yaml").write_text(api_yaml("/a/", ECHO % "a" + FEED, api_id="a"))
    (apis / "b.json").write_text(orjson.dumps(__import__("yaml").safe_load(api_yaml("/b/", ECHO % "b",
                                                                                   api_id="b"))).decode())
    (apis / "README.txt").write_text("not an API")

    async def main() -> None:
        async with serve("--apis", str(apis)) as server, httpx.AsyncClient(base_url=server.base, timeout=5) as client:
            banner = "".join(server.stdout)
            assert f"AsyncGate gateway on {server.base} (2 API(s))" in banner
            assert f"POST                   {server.base}/a/echo   (stream echo)" in banner
            assert f"WebSocket              ws://127.0.0.1:{server.port}/a/ws   (stream feed)" in banner
            assert "management API: disabled" in banner
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.post("/a/echo", content=b"1")).text == "a:1"
            assert (await client.post("/b/echo", content=b"2")).text == "b:2"
            ws = await ws_connect(f"ws://127.0.0.1:{server.port}/a/ws")
            await until(lambda: client.post("/a/publish", content=b"hi"), 5)
            assert await recv(ws) == b"hi"
            assert await server.stop(signal.SIGTERM) == 0, server.stderr.decode()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            assert b"Traceback" not in server.stderr

    run(main(), timeout=40)


def test_serves_the_demo_without_apis(run) -> None:
    async def main() -> None:
        async with serve() as server, httpx.AsyncClient(base_url=server.base, timeout=5) as client:
            banner = "".join(server.stdout)
            for line in (f"curl -N {server.base}/demo/ticker/sse",
                         f"python -m websockets ws://127.0.0.1:{server.port}/demo/ticker/ws",
                         f"curl -d hello {server.base}/demo/publish"):
                assert f"  {line}\n" in banner
            posted: list[asyncio.Task[httpx.Response]] = []

            async def post() -> None:
                posted.append(asyncio.ensure_future(client.post("/demo/publish", content=b"hello")))

            def posted_and_ticked(events: list[dict[str, str]]) -> bool:
                payloads = [orjson.loads(e["data"]) for e in events]
                return any(p.get("posted") == "hello" for p in payloads) and any("tick" in p for p in payloads)

            events = await sse_events(client, "/demo/ticker/sse", 20, on_open=post, stop_when=posted_and_ticked,
                                      timeout=15)
            assert posted_and_ticked(events), events
            assert [e["id"] for e in events] == [str(i) for i in range(1, len(events) + 1)]
            assert (await posted[0]).status_code == 200
            ws = await ws_connect(f"ws://127.0.0.1:{server.port}/demo/ticker/ws")
            assert "tick" in orjson.loads(await recv(ws, 5))
            await ws.close()
            assert await server.stop(signal.SIGINT) == 0, server.stderr.decode()

    run(main(), timeout=40)


def test_watch_applies_added_changed_and_removed_files(run, tmp_path: Path) -> None:
    apis = tmp_path / "apis"
    apis.mkdir()
    first = apis / "a.yaml"
    first.write_text(api_yaml("/a/", ECHO % "a1", api_id="a"))

    async def echo(client: httpx.AsyncClient, path: str) -> tuple[int, str]:
        response = await client.post(path, content=b"x")
        return response.status_code, response.text

    async def main() -> None:
        async with serve("--apis", str(apis), "--watch") as server, \
                httpx.AsyncClient(base_url=server.base, timeout=5) as client:
            assert await echo(client, "/a/echo") == (200, "a1:x")
            (apis / "b.yaml").write_text(api_yaml("/b/", ECHO % "b", api_id="b"))
            await until(lambda: _is(echo(client, "/b/echo"), (200, "b:x")), 10, 0.1)
            first.write_text(api_yaml("/a/", ECHO % "a2", api_id="a") + "\n")
            await until(lambda: _is(echo(client, "/a/echo"), (200, "a2:x")), 10, 0.1)
            first.write_text("openapi: 3.0.3\nx-tyk-api-gateway: {server: {listenPath: {value: nope}}}\n")
            await asyncio.sleep(1.5)  # a broken file changes nothing
            assert await echo(client, "/a/echo") == (200, "a2:x")
            first.unlink()
            await until(lambda: _is(echo(client, "/a/echo"), (404, None)), 10, 0.1)
            assert await echo(client, "/b/echo") == (200, "b:x")
            assert await server.stop() == 0
            log = server.stderr.decode()
            assert 'a.yaml:2:50: listenPath.value: \\"nope\\" must start with \\"/\\"' in log
            assert "not applied (the API keeps running as it was)" in log

    run(main(), timeout=60)


async def _is(response: object, expected: tuple[int, str | None]) -> bool:
    status, text = await response  # type: ignore[misc]
    return status == expected[0] and (expected[1] is None or text == expected[1])


def test_config_file_and_management_api(run, tmp_path: Path) -> None:
    (tmp_path / "apis").mkdir()
    (tmp_path / "apis" / "a.yaml").write_text(api_yaml("/a/", ECHO % "a", api_id="a"))
    config = tmp_path / "gateway.yaml"
    config.write_text("apis: [apis]\nidle_timeout: 5s\nport: 1\n")  # --port wins over the file

    async def main() -> None:
        async with serve("--config", str(config), env={"ASYNCGATE_ADMIN_SECRET": "topsecret"}) as server, \
                httpx.AsyncClient(base_url=server.base, timeout=5) as client:
            assert f"management API: {server.base}/_admin/apis" in "".join(server.stdout)
            assert "topsecret" not in "".join(server.stdout)
            listed = await client.get("/_admin/apis", headers={"authorization": "Bearer topsecret"})
            assert [a["id"] for a in listed.json()["apis"]] == ["a"]
            assert (await client.get("/_admin/apis")).status_code == 401
            assert await server.stop() == 0
            assert b"topsecret" not in server.stderr

    run(main(), timeout=40)


def test_several_workers_serve_the_same_apis(run, tmp_path: Path) -> None:
    api = tmp_path / "a.yaml"
    api.write_text(api_yaml("/a/", ECHO % "a", api_id="a"))

    async def main() -> None:
        async with serve("--apis", str(api), "--workers", "2", banner=False) as server, \
                httpx.AsyncClient(base_url=server.base, timeout=5) as client:
            await until(lambda: _is(echo_once(client), (200, "a:x")), 20, 0.1)
            for _ in range(4):
                assert (await client.post("/a/echo", content=b"x")).text == "a:x"
            assert await server.stop(timeout=30) == 0

    async def echo_once(client: httpx.AsyncClient) -> tuple[int, str]:
        try:
            response = await client.post("/a/echo", content=b"x")
        except httpx.TransportError:
            return 0, ""
        return response.status_code, response.text

    run(main(), timeout=60)


def test_errors_are_reported_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(api_yaml("/x/", "s:\n  input: {inprok: x}\n  output: {drop: {}}\n"))
    result = run_cli("--apis", str(bad), "--port", str(free_port()))
    assert result.returncode == 1
    assert f'{bad}:10:15: unknown input type "inprok" (did you mean "inproc"?)' in result.stderr
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(api_yaml("/same/", ECHO % "1", api_id="one"))
    two.write_text(api_yaml("/same/", ECHO % "2", api_id="two"))
    result = run_cli("--apis", str(one), str(two), "--port", str(free_port()))
    assert result.returncode == 1 and 'listen path "/same/" is already served by API "one"' in result.stderr
    config = tmp_path / "gateway.yaml"
    config.write_text("hots: 0.0.0.0\n")
    result = run_cli("--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(f'{config}:1:1: unknown field "hots" in (root) (did you mean "host"?)')
    result = run_cli("--apis", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1 and "missing.yaml:1:1: no such file or directory" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("--apis", str(empty))
    assert result.returncode == 1 and "no API definition files" in result.stderr
    busy = free_port()
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        result = run_cli("--apis", str(one), "--port", str(busy))
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{busy}" in result.stderr


SLOW = """
slow:
  input: {http_server: {path: /slow, ws_path: ""}}
  pipeline: {processors: [{sleep: {duration: 700ms}}, {mapping: 'root = "done:" + content().string()'}]}
  output: {sync_response: {}}
"""


def test_sigterm_drains_requests_in_flight(run, tmp_path: Path) -> None:
    api = tmp_path / "slow.yaml"
    api.write_text(api_yaml("/s/", SLOW, api_id="s"))
    auth = {"authorization": "Bearer drain-secret"}

    async def read_messages(client: httpx.AsyncClient) -> int:
        streams = (await client.get("/_admin/streams", headers=auth)).json()["streams"]
        return sum(s["read_messages"] for s in streams)

    async def main() -> None:
        async with serve("--apis", str(api), env={"ASYNCGATE_ADMIN_SECRET": "drain-secret"}) as server, \
                httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            slow = asyncio.ensure_future(client.post("/s/slow", content=b"x"))
            await until(lambda: read_messages(client), 5)  # the stream has read it: it is in flight
            server.process.send_signal(signal.SIGTERM)
            response = await slow
            assert (response.status_code, response.text) == (200, "done:x")
            _, server.stderr = await asyncio.wait_for(server.process.communicate(), 20)
            assert server.process.returncode == 0, server.stderr.decode()

    run(main(), timeout=40)
