"""zmq4 input and output against real ZeroMQ sockets on 127.0.0.1 (no external service)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load
from tests.integration._local_ports import stable_port
from tests.integration.conftest import ROOT

DEADLINE = 5.0


def tcp(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


async def start(yaml_text: str) -> tuple[Manager, asyncio.Future[bool]]:
    manager = Manager(load(yaml_text))
    manager.build()
    running = asyncio.ensure_future(manager.run())
    # connect() (bind/connect) happens at the start of run(): let it.
    for _ in range(5):
        await asyncio.sleep(0)
    return manager, running


async def bind_when_free(sock: zmq.asyncio.Socket, url: str) -> None:
    """Bind, waiting (bounded) while a socket closed a moment ago still holds the address:
    ZeroMQ releases a closed socket's listener in its I/O thread, after `close()` returns."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        try:
            sock.bind(url)
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or loop.time() > deadline:
                raise
        await asyncio.sleep(0.02)


async def stop(manager: Manager, running: asyncio.Future[bool]) -> bool:
    manager.stop()
    return await asyncio.wait_for(running, DEADLINE)


def test_input_pull_multipart_is_one_batch(run) -> None:
    port = stable_port()

    async def main() -> None:
        manager, running = await start(f"""
input: {{ zmq4: {{ urls: ["{tcp(port)}"], bind: true, socket_type: PULL }} }}
output: {{ inproc: out }}
""")
        ctx = zmq.asyncio.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(tcp(port))
        try:
            await push.send_multipart([b"part-1", b'{"n":2}'])
            await push.send(b"single")
            batch, ack = await asyncio.wait_for(manager.hub.receive("out"), DEADLINE)
            assert [m.raw for m in batch] == [b"part-1", b'{"n":2}']
            await ack(None)
            batch, ack = await asyncio.wait_for(manager.hub.receive("out"), DEADLINE)
            assert [m.raw for m in batch] == [b"single"]
            await ack(None)
        finally:
            push.close(0)
            ctx.destroy(linger=0)
        assert await stop(manager, running)

    run(main(), timeout=15)


def test_input_nacked_batch_is_redelivered(run) -> None:
    port = stable_port()

    async def main() -> None:
        manager, running = await start(f"""
input: {{ zmq4: {{ urls: ["{tcp(port)}"], bind: true, socket_type: PULL }} }}
output: {{ inproc: out }}
""")
        ctx = zmq.asyncio.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(tcp(port))
        try:
            await push.send_multipart([b"a", b"b"])
            # The first delivery fails downstream (nacked): the batch must come again, whole.
            got = await asyncio.wait_for(collect(manager.hub, "out", 2, fail=1), DEADLINE)
            assert [m.raw for m in got] == [b"a", b"b"]
        finally:
            push.close(0)
            ctx.destroy(linger=0)
        assert await stop(manager, running)

    run(main(), timeout=15)


def test_input_sub_filters(run) -> None:
    port = stable_port()

    async def main() -> None:
        manager, running = await start(f"""
input:
  zmq4:
    urls: ["{tcp(port)}"]
    bind: true
    socket_type: SUB
    sub_filters: ["keep."]
output: {{ inproc: out }}
""")
        ctx = zmq.asyncio.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.connect(tcp(port))
        received: list[bytes] = []
        try:
            # A subscription reaches a publisher only once connected: publish probes until one arrives.
            receive = asyncio.ensure_future(manager.hub.receive("out"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            while not receive.done():
                assert loop.time() < deadline, "the SUB input never received a matching message"
                await pub.send(b"keep.probe")
                await asyncio.wait((receive,), timeout=0.05)
            batch, ack = receive.result()
            received.extend(m.raw for m in batch)
            await ack(None)
            await pub.send(b"drop.me")
            await pub.send(b"keep.last")
            while received[-1] != b"keep.last":
                batch, ack = await asyncio.wait_for(manager.hub.receive("out"), DEADLINE)
                received.extend(m.raw for m in batch)
                await ack(None)
        finally:
            pub.close(0)
            ctx.destroy(linger=0)
        assert all(r.startswith(b"keep.") for r in received), received
        assert await stop(manager, running)

    run(main(), timeout=15)


def test_output_push_sends_batch_as_multipart(run) -> None:
    port = stable_port()

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        pull = ctx.socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        manager, running = await start(f"""
input: {{ inproc: in }}
output: {{ zmq4: {{ urls: ["{tcp(port)}"], socket_type: PUSH }} }}
""")
        pull.connect(tcp(port))  # the output binds by default
        try:
            await asyncio.wait_for(manager.hub.send("in", [Message(b"one"), Message(b"two")]), DEADLINE)
            await asyncio.wait_for(manager.hub.send("in", [Message(b"three")]), DEADLINE)
            assert await asyncio.wait_for(pull.recv_multipart(), DEADLINE) == [b"one", b"two"]
            assert await asyncio.wait_for(pull.recv_multipart(), DEADLINE) == [b"three"]
        finally:
            pull.close(0)
            ctx.destroy(linger=0)
        assert await stop(manager, running)

    run(main(), timeout=15)


def test_output_connects_and_survives_peer_restart(run) -> None:
    port = stable_port()

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        manager, running = await start(f"""
input: {{ inproc: in }}
output: {{ zmq4: {{ urls: ["{tcp(port)}"], bind: false, socket_type: PUSH, poll_timeout: 3s }} }}
""")
        try:
            for round_ in range(2):
                pull = ctx.socket(zmq.PULL)
                pull.setsockopt(zmq.LINGER, 0)
                try:
                    await bind_when_free(pull, tcp(port))
                    payload = f"round-{round_}".encode()
                    await asyncio.wait_for(manager.hub.send("in", [Message(payload)]), DEADLINE)
                    assert await asyncio.wait_for(pull.recv(), DEADLINE) == payload
                finally:
                    pull.close(0)  # the peer goes away; ZeroMQ reconnects to the next one by itself
        finally:
            ctx.destroy(linger=0)
        assert await stop(manager, running)

    run(main(), timeout=20)


def test_output_without_peer_nacks_to_fallback(run) -> None:
    port = stable_port()

    async def main() -> None:
        manager, running = await start(f"""
input: {{ inproc: in }}
output:
  fallback:
    - zmq4: {{ urls: ["{tcp(port)}"], socket_type: PUSH, poll_timeout: 100ms }}
    - inproc: dead
""")
        sent = asyncio.ensure_future(manager.hub.send("in", [Message(b"nobody listens")]))
        batch, ack = await asyncio.wait_for(manager.hub.receive("dead"), DEADLINE)
        assert [m.raw for m in batch] == [b"nobody listens"]
        error = batch[0].meta["fallback_error"]
        assert "not ready to send" in error and tcp(port) in error, error
        await ack(None)
        await asyncio.wait_for(sent, DEADLINE)
        assert await stop(manager, running)

    run(main(), timeout=15)


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as err:
        load("""
input:
  zmq4:
    urls: [tcp://127.0.0.1:5555]
    socket_type: PUSH
output: { drop: {} }
""")
    text = str(err.value)
    assert "test.yaml:5:" in text and "PUSH" in text and "PULL" in text, text

    manager = Manager(load("""
input:
  zmq4: { urls: [tcp://127.0.0.1:5555], socket_type: SUB }
output: { drop: {} }
"""))
    with pytest.raises(ComponentError) as built:
        manager.build()
    assert "input zmq4 at input.zmq4" in str(built.value) and "sub_filters" in str(built.value)


def test_bind_in_use_is_a_clear_error(run) -> None:
    port = stable_port()

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        holder = ctx.socket(zmq.PULL)
        holder.setsockopt(zmq.LINGER, 0)
        holder.bind(tcp(port))
        try:
            manager = Manager(load(f"""
input:
  label: events
  zmq4: {{ urls: ["{tcp(port)}"], bind: true, socket_type: PULL }}
output: {{ drop: {{}} }}
"""))
            manager.build()
            with pytest.raises(ComponentError) as err:
                await asyncio.wait_for(manager.run(), DEADLINE)
            text = str(err.value)
            assert 'input "events"' in text and f"cannot bind {tcp(port)}" in text, text
        finally:
            holder.close(0)
            ctx.destroy(linger=0)

    run(main(), timeout=10)


def test_cli_reports_bad_url(tmp_path: Path) -> None:
    config = tmp_path / "zmq.yaml"
    config.write_text("output:\n  zmq4:\n    urls: [nonsense://here]\n    socket_type: PUSH\n"
                      "input:\n  generate: { mapping: root = 1, count: 1 }\n")
    result = subprocess.run([sys.executable, "-m", "engine", "run", str(config)], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "output zmq4 at output.zmq4" in result.stderr and "nonsense://here" in result.stderr, result.stderr
