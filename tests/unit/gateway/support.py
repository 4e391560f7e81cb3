"""Serving a gateway app on a real socket inside a test, and the real clients that talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import textwrap
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[3]
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_port(port: int, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing listens on port {port}") from None
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve APP as `asyncgate serve` does (Hypercorn; on exit the gateway stops before the server) on a free
    127.0.0.1 port; yields "127.0.0.1:PORT". A plain ASGI app (no gateway) is served as it is."""
    from gateway_adapter.serve import run_server

    port = free_port()
    stop = asyncio.Event()
    gateway = getattr(getattr(app, "state", None), "gateway", None)
    if gateway is not None:
        task = asyncio.ensure_future(run_server(app, gateway, "127.0.0.1", port, stop, ping_interval=0))
    else:
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.graceful_timeout = 2.0
        task = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        await wait_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def api_yaml(listen: str = "/t/", streams: str = "", *, api_id: str = "t", strip: bool = True,
             context: bool = False, active: bool = True, extra: str = "") -> str:
    """An API definition with STREAMS (YAML of the streams map, any indentation)."""
    body = textwrap.indent(textwrap.dedent(streams).strip("\n"), "    ")
    return (f"openapi: 3.0.3\ninfo: {{title: {api_id}, version: 1.0.0}}\npaths: {{}}\n"
            f"x-tyk-api-gateway:\n  info: {{id: {api_id}, name: {api_id}, state: {{active: {str(active).lower()}}}}}\n"
            f"  server: {{listenPath: {{value: '{listen}', strip: {str(strip).lower()}}}}}\n"
            + ("  middleware: {global: {contextVariables: {enabled: true}}}\n" if context else "")
            + extra
            + f"x-tyk-streaming:\n  streams:\n{body}\n")


# A stream whose output is an http_server that subscribers read; messages come from `inproc: <pipe>`.
def feed_stream(name: str, pipe: str, output: str = "ws_path: /ws, stream_path: /sse, stream_format: event_source, "
                                                   "path: /poll") -> str:
    return f"{name}:\n  input: {{inproc: {pipe}}}\n  output: {{http_server: {{{output}}}}}\n"


async def until(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Wait until CHECK() is truthy (it may be a coroutine function); return its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


async def ws_connect(url: str, **kw: Any) -> ClientConnection:
    return await asyncio.wait_for(connect(url, open_timeout=5, close_timeout=2, **kw), 6)


async def recv(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(ws.recv(), timeout)


async def sse_events(client: httpx.AsyncClient, url: str, count: int, timeout: float = 5.0,
                     on_open: Callable[[], Awaitable[None]] | None = None,
                     stop_when: Callable[[list[dict[str, str]]], bool] | None = None,
                     **kw: Any) -> list[dict[str, str]]:
    """Read COUNT Server-Sent Events from URL, or fewer once STOP_WHEN(events) holds (ON_OPEN runs once the
    response headers came)."""
    events: list[dict[str, str]] = []

    async def read() -> None:
        async with client.stream("GET", url, **kw) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            if on_open is not None:
                await on_open()
            event: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if event:
                        events.append(event)
                        event = {}
                        if len(events) >= count or (stop_when is not None and stop_when(events)):
                            return
                    continue
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(":")
                event[key] = (event.get(key, "") + "\n" if key in event else "") + value.removeprefix(" ")

    await asyncio.wait_for(read(), timeout)
    return events


async def gateway_instances(gateway: Any) -> list[dict[str, Any]]:
    return gateway.instances()
