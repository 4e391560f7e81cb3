"""nats (core) and nats_jetstream inputs and outputs against the local nats-server: metadata and headers,
queue groups, request acks, interpolated subjects, JetStream publish acks, ack after delivery and nak
redelivery, durable consumers resuming across an AsyncGate restart and a server restart, wrong addresses
and config errors. Every test uses its own subjects, streams and consumer names."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import NotFoundError

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config
from tests.integration.conftest import PORTS, port_open, restart_service

pytestmark = pytest.mark.nats

ROOT = Path(__file__).resolve().parents[2]


def uid(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def url(address: str) -> str:
    return f"nats://{address}"


def _innermost(component: Any) -> Any:
    while hasattr(component, "inner"):
        component = component.inner
    return component


async def started(manager: Manager) -> "asyncio.Future[bool]":
    """Run MANAGER; return once every nats input is connected and subscribed."""
    manager.build()
    running = asyncio.ensure_future(manager.run())
    deadline = time.monotonic() + 10
    while True:
        inputs = [_innermost(s.input) for s in manager.streams.values()]
        if all(getattr(i, "conn", None) is not None and i.conn.nc is not None and i.conn.nc.is_connected
               for i in inputs):
            # The SUB (and JetStream consumer) is set up right after connecting: make it reach the server.
            await asyncio.sleep(0.05)
            await inputs[0].conn.nc.flush(2)
            return running
        if running.done():
            running.result()
        if time.monotonic() > deadline:
            raise AssertionError("the nats input did not connect within 10s")
        await asyncio.sleep(0.02)


async def stream_with(nc: Any, subject: str) -> str:
    name = uid("S").upper()
    await nc.jetstream().add_stream(name=name, subjects=[subject])
    return name


# -- core NATS --------------------------------------------------------------------------------------


def test_core_input_metadata_headers_and_request_ack(run, nats_address: str) -> None:
    subject = uid("core.in")

    async def main() -> None:
        manager = Manager(load(f"""
input:
  nats:
    urls: [{url(nats_address)}]
    subject: {subject}.>
    queue: workers
output:
  inproc: out
"""))
        running = await started(manager)
        nc = await nats.connect(url(nats_address))
        try:
            await nc.publish(f"{subject}.a", b"hello", headers={"Trace-Id": "abc"})
            # A request is answered (+ACK) only once the message was delivered downstream.
            request = asyncio.ensure_future(nc.request(f"{subject}.b", b"please", timeout=5))
            got = await collect(manager.hub, "out", 1)
            batch, ack = await manager.hub.receive("out")
            await asyncio.sleep(0.2)
            assert not request.done(), "answered before delivery"
            await ack(None)
            reply = await request
            got += batch
        finally:
            await nc.close()
            manager.stop()
            await running
        assert reply.data == b"+ACK"
        hello, please = got
        assert hello.raw == b"hello" and hello.meta["nats_subject"] == f"{subject}.a"
        assert hello.meta["Trace-Id"] == "abc" and "nats_reply_subject" not in hello.meta
        assert please.raw == b"please" and please.meta["nats_reply_subject"].startswith("_INBOX.")

    run(main(), timeout=20)


def test_core_input_nack_is_sent_again(run, nats_address: str) -> None:
    subject = uid("core.nack")

    async def main() -> None:
        manager = Manager(load(f"input:\n  nats:\n    urls: [{url(nats_address)}]\n    subject: {subject}\n"
                               "output:\n  inproc: out\n"))
        running = await started(manager)
        nc = await nats.connect(url(nats_address))
        try:
            await nc.publish(subject, b"again")
            got = await collect(manager.hub, "out", 1, fail=1)
        finally:
            await nc.close()
            manager.stop()
            await running
        assert [m.raw for m in got] == [b"again"]

    run(main(), timeout=15)


def test_core_output_interpolated_subject_and_headers(run, nats_address: str) -> None:
    base = uid("core.out")

    async def main() -> None:
        nc = await nats.connect(url(nats_address))
        sub = await nc.subscribe(f"{base}.>")
        await nc.flush()
        try:
            await run_config(f"""
input:
  inproc: in
pipeline:
  processors:
    - mapping: |
        meta kind = this.kind
        meta x_tenant = "acme"
output:
  nats:
    urls: [{url(nats_address)}]
    subject: '{base}.${{! meta("kind") }}'
    headers:
      Content-Type: application/json
      Kind: '${{! meta("kind") }}'
    metadata:
      include_prefixes: [x_]
""", feed=[b'{"kind":"a"}', b'{"kind":"b"}'])
            msgs = [await sub.next_msg(5), await sub.next_msg(5)]
        finally:
            await nc.close()
        by_subject = {m.subject: m for m in msgs}
        assert set(by_subject) == {f"{base}.a", f"{base}.b"}
        a = by_subject[f"{base}.a"]
        assert a.data == b'{"kind":"a"}'
        assert a.headers == {"Content-Type": "application/json", "Kind": "a", "x_tenant": "acme"}

    run(main(), timeout=15)


# -- JetStream ------------------------------------------------------------------------------------


def js_input(address: str, subject: str, extra: str = "") -> str:
    return f"""
input:
  nats_jetstream:
    urls: [{url(address)}]
    subject: {subject}
{extra}
output:
  inproc: out
"""


def test_jetstream_output_publish_acks_and_input_metadata(run, nats_address: str) -> None:
    subject = uid("js.out")

    async def main() -> None:
        nc = await nats.connect(url(nats_address))
        js = nc.jetstream()
        name = await stream_with(nc, f"{subject}.>")
        try:
            await run_config(f"""
input:
  inproc: in
pipeline:
  processors:
    - mapping: 'meta part = this.part'
output:
  nats_jetstream:
    urls: [{url(nats_address)}]
    subject: '{subject}.${{! meta("part") }}'
    metadata:
      include_patterns: ['^part$']
""", feed=[b'{"part":"p1"}', b'{"part":"p2"}'])
            info = await js.stream_info(name)
            assert info.state.messages == 2  # write returned only once both were stored
            stored = await js.get_msg(name, 1)
            assert stored.subject in (f"{subject}.p1", f"{subject}.p2")
            assert stored.headers is not None and stored.headers["part"] in ("p1", "p2")

            got = await run_config(js_input(nats_address, f"{subject}.>"), expect=2)
            metas = sorted((m.meta for m in got), key=lambda m: m["nats_sequence_stream"])
            assert [m["nats_sequence_stream"] for m in metas] == ["1", "2"]
            assert metas[0]["nats_num_delivered"] == "1" and metas[0]["nats_num_pending"] == "1"
            assert int(metas[0]["nats_timestamp_unix_nano"]) > 1_600_000_000 * 10**9
            assert metas[0]["nats_subject"].startswith(subject) and metas[0]["part"] in ("p1", "p2")
        finally:
            await js.delete_stream(name)
            await nc.close()

    run(main(), timeout=20)


def test_jetstream_output_without_stream_fails_the_write(run, nats_address: str) -> None:
    subject = uid("js.nostream")

    async def main() -> None:
        manager = Manager(load(f"input:\n  inproc: in\noutput:\n  label: store\n  nats_jetstream:\n"
                               f"    urls: [{url(nats_address)}]\n    subject: {subject}\n"))
        manager.build()
        output = manager.streams["main"].output
        await output.connect()
        try:
            with pytest.raises(ConnectionError) as info:
                await output.write([Message(b"x")])
        finally:
            await output.close()
        assert "store" in str(info.value) and subject in str(info.value) and "stream" in str(info.value)

    run(main(), timeout=15)


def test_jetstream_ack_after_delivery_and_nak_redelivers(run, nats_address: str) -> None:
    subject = uid("js.ack")
    durable = uid("d")

    async def main() -> None:
        nc = await nats.connect(url(nats_address))
        js = nc.jetstream()
        name = await stream_with(nc, subject)
        try:
            await js.publish(subject, b"m1")
            manager = Manager(load(js_input(nats_address, subject, f"    durable: {durable}\n    ack_wait: 30s")))
            running = await started(manager)
            try:
                batch, ack = await manager.hub.receive("out")
                info = await js.consumer_info(name, durable)
                assert info.num_ack_pending == 1  # delivered, not acknowledged yet
                await ack(RuntimeError("output failed"))  # nak: the server redelivers (no in-memory retry)
                again, ack2 = await manager.hub.receive("out")
                assert again[0].raw == b"m1" and again[0].meta["nats_num_delivered"] == "2"
                await ack2(None)
                deadline = time.monotonic() + 5
                while (await js.consumer_info(name, durable)).num_ack_pending:
                    assert time.monotonic() < deadline, "the ack never reached the server"
                    await asyncio.sleep(0.05)
                assert (await js.consumer_info(name, durable)).ack_floor.stream_seq == 1
            finally:
                manager.stop()
                await running
        finally:
            await js.delete_stream(name)
            await nc.close()

    run(main(), timeout=20)


def test_jetstream_durable_resumes_after_asyncgate_restart(run, nats_address: str) -> None:
    subject = uid("js.resume")
    durable = uid("d")

    async def main() -> None:
        nc = await nats.connect(url(nats_address))
        js = nc.jetstream()
        name = await stream_with(nc, subject)
        config = js_input(nats_address, subject, f"    durable: {durable}")
        try:
            for i in range(3):
                await js.publish(subject, f"a{i}".encode())
            first = await run_config(config, expect=3)
            for i in range(2):
                await js.publish(subject, f"b{i}".encode())
            second = await run_config(config, expect=2)
        finally:
            await js.delete_stream(name)
            await nc.close()
        assert sorted(m.raw for m in first) == [b"a0", b"a1", b"a2"]
        assert sorted(m.raw for m in second) == [b"b0", b"b1"]  # nothing acked comes back

    run(main(), timeout=20)


def test_jetstream_server_restart_durable_consumer_resumes(run, nats_address: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    subject = uid("js.restart")
    durable = uid("d")

    async def main() -> None:
        nc = await nats.connect(url(nats_address))
        js = nc.jetstream()
        name = await stream_with(nc, subject)
        await nc.close()
        manager = Manager(load(js_input(nats_address, subject, f"    durable: {durable}\n    ack_wait: 2s")))
        running = await started(manager)
        try:
            nc = await nats.connect(url(nats_address))
            js = nc.jetstream()
            for i in range(3):
                await js.publish(subject, f"before{i}".encode())
            await nc.close()
            acked = await collect(manager.hub, "out", 2)
            # Taken before the restart, settled only after it (negatively: the output failed).
            in_flight, settle = await manager.hub.receive("out")
            try:
                stop_nats()
            finally:
                await asyncio.to_thread(restart_service, "nats")
            nc = await nats.connect(url(nats_address), max_reconnect_attempts=5)
            js = nc.jetstream()
            for i in range(2):
                await js.publish(subject, f"after{i}".encode())
            await settle(RuntimeError("output failed"))
            # The nacked one comes again, the ones published after the restart arrive, the acked ones never.
            after = await collect(manager.hub, "out", 3)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(manager.hub.receive("out"), 0.3)
            info = await js.consumer_info(name, durable)
        finally:
            manager.stop()
            await running
            try:
                await js.delete_stream(name)
            finally:
                await nc.close()
        assert sorted(m.raw for m in acked) + [in_flight[0].raw] == [b"before0", b"before1", b"before2"]
        assert sorted(m.raw for m in after) == sorted([b"after0", b"after1", in_flight[0].raw])
        again = next(m for m in after if m.raw == in_flight[0].raw)
        assert again.meta["nats_num_delivered"] == "2"
        assert info.delivered.stream_seq == 5
        lines = [r.getMessage() for r in caplog.records if "input.nats_jetstream" in r.getMessage()]
        assert sum("lost" in line for line in lines) == 1, lines
        assert sum("reconnected" in line for line in lines) == 1, lines

    run(main(), timeout=60)


def stop_nats() -> None:
    """Stop nats-server (SIGTERM to its pid; JetStream data stays in /var/lib/nats-server) and wait."""
    pids = subprocess.run(["pgrep", "-x", "nats-server"], capture_output=True, text=True).stdout.split()
    assert pids, "nats-server is not running"
    for pid in pids:
        os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 15
    while port_open(PORTS["nats"]):
        if time.monotonic() > deadline:
            raise AssertionError("nats-server did not stop")
        time.sleep(0.05)
    for pid in pids:  # the port closes before the process has finished writing its store
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


# -- failures and config -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", [
    "input:\n  label: events\n  nats:\n    urls: [nats://127.0.0.1:1]\n    subject: a\noutput:\n  drop: {}\n",
    "input:\n  label: events\n  nats_jetstream:\n    urls: [nats://127.0.0.1:1]\n    subject: a\n"
    "output:\n  drop: {}\n",
    "input:\n  inproc: in\noutput:\n  label: events\n  nats:\n    urls: [nats://127.0.0.1:1]\n    subject: a\n",
    "input:\n  inproc: in\noutput:\n  label: events\n  nats_jetstream:\n    urls: [nats://127.0.0.1:1]\n"
    "    subject: a\n",
], ids=["nats-in", "js-in", "nats-out", "js-out"])
def test_wrong_address_fails_with_clear_error(run, block: str) -> None:
    async def main() -> None:
        manager = Manager(load(block))
        with pytest.raises(ComponentError) as info:
            await manager.run()
        text = str(info.value)
        assert "events" in text and "nats://127.0.0.1:1" in text and "NATS" in text

    run(main(), timeout=15)


def test_jetstream_input_unknown_stream_and_consumer(run, nats_address: str) -> None:
    async def main() -> None:
        manager = Manager(load(js_input(nats_address, uid("nowhere"))))
        with pytest.raises(ComponentError) as info:
            await manager.run()
        assert "no JetStream stream holds subject" in str(info.value)
        manager = Manager(load(f"input:\n  nats_jetstream:\n    urls: [{url(nats_address)}]\n"
                               f"    stream: {uid('NOPE')}\n    durable: x\n    bind: true\noutput:\n  drop: {{}}\n"))
        with pytest.raises(ComponentError) as info:
            await manager.run()
        assert "nats_jetstream" in str(info.value) and "NOPE" in str(info.value)

    run(main(), timeout=15)


def test_cli_run_wrong_address_exits_with_message(tmp_path: Path) -> None:
    config = tmp_path / "nats.yaml"
    config.write_text("input:\n  label: orders\n  nats_jetstream:\n    urls: [nats://127.0.0.1:1]\n"
                      "    subject: orders.>\n    durable: gw\noutput:\n  drop: {}\n")
    started_at = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert "orders" in proc.stderr and "127.0.0.1:1" in proc.stderr
    assert time.monotonic() - started_at < 20


@pytest.mark.parametrize("body, expected", [
    ("nats_jetstream:\n    urls: [nats://127.0.0.1:4222]\n    subject: a\n    deliver: al", 'did you mean "all"'),
    ("nats:\n    urls: [nats://127.0.0.1:4222]", 'missing required field "subject"'),
    ("nats_jetstream:\n    urls: [nats://127.0.0.1:4222]\n    subject: a\n    ack_wait: soon", "ack_wait"),
    ("nats:\n    urls: [nats://127.0.0.1:4222]\n    subject: a\n    auth:\n      nkey_file: ./x.nk",
     'field "nkey_file" is not supported'),
])
def test_config_errors_are_located(body: str, expected: str) -> None:
    text = f"input:\n  {body}\noutput:\n  drop: {{}}\n"
    if "not supported" in expected:
        loaded = load(text)  # a warning, not an error
        assert any(expected in str(w) for w in loaded.warnings)
        return
    with pytest.raises(ConfigError) as info:
        load(text)
    assert str(info.value).startswith("test.yaml:") and expected in str(info.value)


def test_jetstream_input_needs_subject_or_stream() -> None:
    with pytest.raises(ComponentError) as info:
        Manager(load("input:\n  nats_jetstream:\n    urls: [nats://127.0.0.1:4222]\noutput:\n  drop: {}\n")).build()
    assert "either subject or stream" in str(info.value)
    with pytest.raises(ConfigError) as located:
        load("input:\n  inproc: in\noutput:\n  nats:\n    urls: [nats://127.0.0.1:4222]\n"
             "    subject: 'a.${! meta(\"x\" }'\n")
    assert str(located.value).startswith("test.yaml:6:") and "interpolation" in str(located.value)
