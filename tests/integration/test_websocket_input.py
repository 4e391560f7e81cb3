"""websocket input against a real `websockets` server started by each test on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from engine.errors import ComponentError, ConfigError
from engine.runtime.manager import Manager
from tests.helpers import collect, load
from tests.integration._local_ports import stable_port

DEADLINE = 5.0


class WsServer:
    """Records each connection's handshake headers and first message, then sends what the test queues."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: Server | None = None
        self.connections: list[ServerConnection] = []
        self.opened: list[tuple[dict[str, str], str | bytes]] = []
        self.outbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._joined = asyncio.Event()

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        headers = {k.lower(): v for k, v in ws.request.headers.raw_items()} if ws.request else {}
        first = await ws.recv()  # the input's open_message
        self.opened.append((headers, first))
        self._joined.set()
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            while True:
                getter = asyncio.ensure_future(self.outbox.get())
                await asyncio.wait((getter, closed), return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                await ws.send(getter.result())
        finally:
            closed.cancel()

    async def start(self) -> None:
        self.server = await serve(self._handler, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def joined(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while len(self.opened) < count:
            assert loop.time() < deadline, f"expected {count} connection(s), got {len(self.opened)}"
            self._joined.clear()
            try:
                await asyncio.wait_for(self._joined.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                pass


def config(port: int, extra: str = "") -> str:
    return f"""
input:
  label: feed
  websocket:
    url: ws://127.0.0.1:{port}/feed
    open_message: '{{"subscribe":"prices"}}'
    open_message_type: text
    headers: {{ X-Client: asyncgate-test }}
{extra}
output: {{ inproc: out }}
"""


def test_receives_messages_sends_open_message_and_headers(run) -> None:
    port = stable_port()

    async def main() -> None:
        server = WsServer(port)
        await server.start()
        manager = Manager(load(config(port)))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        try:
            await server.joined(1)
            headers, first = server.opened[0]
            assert first == '{"subscribe":"prices"}'  # a text frame, as open_message_type says
            assert headers["x-client"] == "asyncgate-test"
            await server.outbox.put("text message")
            await server.outbox.put(b"\x00binary")
            got = await asyncio.wait_for(collect(manager.hub, "out", 2), DEADLINE)
            assert [m.raw for m in got] == [b"text message", b"\x00binary"]
        finally:
            manager.stop()
            await asyncio.wait_for(running, DEADLINE)
            await server.stop()

    run(main(), timeout=15)


def test_nacked_message_is_replayed(run) -> None:
    port = stable_port()

    async def main() -> None:
        server = WsServer(port)
        await server.start()
        manager = Manager(load(config(port)))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        try:
            await server.joined(1)
            await server.outbox.put("must arrive")
            got = await asyncio.wait_for(collect(manager.hub, "out", 1, fail=1), DEADLINE)
            assert [m.raw for m in got] == [b"must arrive"]
        finally:
            manager.stop()
            await asyncio.wait_for(running, DEADLINE)
            await server.stop()

    run(main(), timeout=15)


def test_reconnects_after_server_restart(run, caplog: pytest.LogCaptureFixture) -> None:
    port = stable_port()
    caplog.set_level(logging.INFO, logger="asyncgate")

    async def main() -> None:
        server = WsServer(port)
        await server.start()
        manager = Manager(load(config(port)))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        try:
            await server.joined(1)
            await server.outbox.put("before")
            got = await asyncio.wait_for(collect(manager.hub, "out", 1), DEADLINE)
            assert [m.raw for m in got] == [b"before"]

            await server.stop()  # the server goes away...
            restarted = WsServer(port)
            await restarted.start()  # ...and comes back on the same address
            server = restarted
            await server.joined(1)  # reconnected, open_message sent again
            assert server.opened[0][1] == '{"subscribe":"prices"}'
            await server.outbox.put("after")
            got = await asyncio.wait_for(collect(manager.hub, "out", 1), DEADLINE)
            assert [m.raw for m in got] == [b"after"]
        finally:
            manager.stop()
            await asyncio.wait_for(running, DEADLINE)
            await server.stop()

    run(main(), timeout=20)
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    back = [r for r in caplog.records if "reconnected to" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1, [r.getMessage() for r in caplog.records]
    assert 'input "feed"' in lost[0].getMessage() and f"ws://127.0.0.1:{port}/feed" in lost[0].getMessage()


def test_max_retries_zero_ends_the_input(run) -> None:
    port = stable_port()

    async def main() -> None:
        server = WsServer(port)
        await server.start()
        manager = Manager(load(config(port, "    connection: { max_retries: 0 }")))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        await server.joined(1)
        await server.stop()
        # No reconnection attempts: the input ends and so does the stream.
        assert await asyncio.wait_for(running, DEADLINE)

    run(main(), timeout=15)


def test_wrong_address_fails_at_start_naming_the_url(run) -> None:
    port = stable_port()  # nothing listens there

    async def main() -> None:
        manager = Manager(load(config(port)))
        manager.build()
        with pytest.raises(ComponentError) as err:
            await asyncio.wait_for(manager.run(), DEADLINE)
        text = str(err.value)
        assert 'input "feed"' in text and f"ws://127.0.0.1:{port}/feed" in text, text

    run(main(), timeout=10)


def test_config_errors() -> None:
    with pytest.raises(ConfigError) as err:
        load("input:\n  websocket:\n    url: ws://127.0.0.1:1/x\n    open_message_type: json\noutput: { drop: {} }\n")
    assert "test.yaml:4:" in str(err.value) and "binary" in str(err.value)
    manager = Manager(load("input:\n  websocket: { url: http://127.0.0.1:1/x }\noutput: { drop: {} }\n"))
    with pytest.raises(ComponentError) as built:
        manager.build()
    assert "input websocket at input.websocket" in str(built.value) and "ws://" in str(built.value)
