"""Pre-framed WebSocket sends (engine/runtime/ws_frames.py): `asyncgate serve` offers the extension, the
http_server output then writes each message's shared frame itself; without the extension (an embedding
server) the plain ASGI path is taken. Both must deliver the same, with the same slow-consumer policy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, TextMessage

from engine.runtime.ws_frames import EXTENSION, frame
from gateway_adapter import create_app, load_api_text
from gateway_adapter.gateway import Gateway

from .support import api_yaml, recv, served, until, ws_connect

FEED = """
feed:
  input: {http_server: {path: /publish, ws_path: ""}}
  output:
    http_server: {ws_path: /ws, stream_path: "", path: "", fan_out: %s, ws_message_type: %s,
                  send_buffer: %d, slow_consumer: disconnect}
"""


def without_extension(app: object) -> object:
    """APP as a server without the extension serves it (the pure-ASGI path of an embedding)."""
    async def plain(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "websocket":
            scope = {**scope, "extensions": {k: v for k, v in (scope.get("extensions") or {}).items()
                                             if k != EXTENSION}}
        await app(scope, receive, send)  # type: ignore[operator]
    plain.state = app.state  # type: ignore[attr-defined]
    return plain


def output_stats(app: object) -> list[dict]:
    gateway: Gateway = app.state.gateway  # type: ignore[attr-defined]
    return [c["stats"] for i in gateway.instances() for c in i["components"] if "ws_framed_clients" in c["stats"]]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("text", [False, True])
def test_frame_is_what_wsproto_builds(size: int, text: bool) -> None:
    payload = bytes(ord("a") + i % 26 for i in range(size))
    conn = Connection(ConnectionType.SERVER)
    expected = conn.send(TextMessage(data=payload.decode()) if text else BytesMessage(data=payload))
    assert frame(payload, text) == expected


@pytest.mark.parametrize("framed", [True, False], ids=["framed", "asgi"])
@pytest.mark.parametrize("message_type", ["binary", "text"])
def test_broadcast_delivers_every_message_in_order_on_both_paths(run, framed: bool, message_type: str) -> None:
    gateway_app = create_app(apis=[load_api_text(api_yaml("/t/", FEED % ("broadcast", message_type, 10_000)), "a.yaml")])
    app = gateway_app if framed else without_extension(gateway_app)
    bodies = [f"m{i}-é".encode() for i in range(200)] + [b"\xff bad utf-8", b"x" * 70_000]

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            subscribers = [await ws_connect(f"ws://{host}/t/ws", compression=None) for _ in range(3)]
            await until(lambda: sum(s["clients"] for s in output_stats(gateway_app)) == 3)
            assert sum(s["ws_framed_clients"] for s in output_stats(gateway_app)) == (3 if framed else 0)
            for body in bodies:
                assert (await client.post("/t/publish", content=body)).status_code == 200
            want = ([b.decode("utf-8", "replace") for b in bodies] if message_type == "text" else bodies)
            for ws in subscribers:
                got = [await recv(ws) for _ in bodies]
                assert got == want
                await ws.close()
            await until(lambda: sum(s["delivered"] for s in output_stats(gateway_app)) == 3 * len(bodies))

    run(main(), timeout=30)


@pytest.mark.parametrize("framed", [True, False], ids=["framed", "asgi"])
def test_a_client_that_does_not_read_is_closed_1008_and_the_others_get_everything(run, framed: bool) -> None:
    gateway_app = create_app(apis=[load_api_text(api_yaml("/t/", FEED % ("broadcast", "binary", 8)), "a.yaml")])
    app = gateway_app if framed else without_extension(gateway_app)
    body = b"y" * 60_000
    count = 200

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            reader = await ws_connect(f"ws://{host}/t/ws", compression=None, max_size=None)
            stuck = await ws_connect(f"ws://{host}/t/ws", compression=None, max_size=None, max_queue=1)
            stuck.transport.pause_reading()  # never reads: its socket and then its send buffer fill up
            await until(lambda: sum(s["clients"] for s in output_stats(gateway_app)) == 2)
            got: list[bytes] = []

            async def read() -> None:
                while len(got) < count:
                    got.append(await recv(reader))

            reading = asyncio.ensure_future(read())
            for _ in range(count):
                assert (await client.post("/t/publish", content=body)).status_code == 200
                await asyncio.sleep(0)
            await asyncio.wait_for(reading, 20)
            assert got == [body] * count
            await until(lambda: sum(s["disconnected_slow"] for s in output_stats(gateway_app)) == 1)
            stuck.transport.resume_reading()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(stuck, 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            await reader.close()

    run(main(), timeout=60)


def frames_app(seen: dict[str, Any], go: asyncio.Event, done: asyncio.Event) -> Any:
    """A plain ASGI app that accepts a WebSocket and hands its frames extension to the test (SEEN), then
    waits for GO; it ends (closing the connection) when DONE is set."""
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        seen["frames"] = scope["extensions"][EXTENSION]
        go.set()
        await done.wait()
        await send({"type": "websocket.close", "code": 1000})
    return app


def test_write_writes_at_once_refuses_while_the_connection_is_backed_up_and_raises_once_closed(run) -> None:
    from engine.runtime.ws_frames import install_hypercorn

    assert install_hypercorn()
    seen: dict[str, Any] = {}

    async def main() -> None:
        go, done = asyncio.Event(), asyncio.Event()
        async with served(frames_app(seen, go, done)) as host:
            ws = await ws_connect(f"ws://{host}/", compression=None, max_size=None, max_queue=1)
            await asyncio.wait_for(go.wait(), 5)
            write, send_frames = seen["frames"]["write"], seen["frames"]["send"]
            assert write(frame(b"now")) is True
            assert await recv(ws) == b"now"
            async with write.__self__._raw[0]:  # the connection's send lock: the server is sending
                assert write(frame(b"not now")) is False
            ws.transport.pause_reading()  # the client stops reading: the server's buffers fill
            big = frame(b"z" * 1_000_000)
            refused = 0
            for _ in range(50):  # until the write buffer is over its high-water mark
                if not write(big):
                    refused += 1
                    break
                await asyncio.sleep(0)
            assert refused == 1
            sending = asyncio.ensure_future(send_frames(frame(b"after")))  # waits for the client, under the lock
            await asyncio.sleep(0.05)
            assert not sending.done() and write(frame(b"x")) is False
            ws.transport.resume_reading()
            await asyncio.wait_for(sending, 10)
            while (await recv(ws)) != b"after":
                pass
            assert write(frame(b"again")) is True and await recv(ws) == b"again"
            done.set()
            with pytest.raises(ConnectionClosed):
                await recv(ws)
            await until(lambda: _raises_reset(write))

    run(main(), timeout=30)


def _raises_reset(write: Any) -> bool:
    try:
        write(frame(b"late"))
    except ConnectionResetError:
        return True
    return False
