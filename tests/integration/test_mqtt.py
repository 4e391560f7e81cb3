"""mqtt input and output against the local Mosquitto (MQTT 3.1.1 and 5): wildcards and metadata,
PUBACK only after downstream delivery (checked through a persistent session's redelivery), nacks
re-sent, interpolated topics and retained publishes, a broker restart, wrong addresses and config
errors. Every test uses its own topics and client ids."""

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

import aiomqtt
import pytest

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config
from tests.integration.conftest import PORTS, port_open, restart_service

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parents[2]
PIDFILE = Path("/run/mosquitto/mosquitto.pid")
VERSIONS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}


def uid(prefix: str = "t") -> str:
    return f"asyncgate-test/{prefix}-{uuid.uuid4().hex[:10]}"


def broker(address: str, version: str = "3.1.1", **kw: Any) -> aiomqtt.Client:
    host, port = address.split(":")
    return aiomqtt.Client(host, int(port), protocol=VERSIONS[version], **kw)


async def publish(address: str, topic: str, payloads: list[bytes], *, qos: int = 1, retain: bool = False,
                  version: str = "3.1.1") -> None:
    async with broker(address, version) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=qos, retain=retain)


async def started(manager: Manager) -> "asyncio.Future[bool]":
    """Run MANAGER; return once its streams are connected (subscribed)."""
    running = asyncio.ensure_future(manager.run())
    deadline = time.monotonic() + 10
    # Connection happens inside run(); wait until the input's session exists and is connected.
    while True:
        inputs = [_innermost(s.input) for s in manager.streams.values()]
        if all(getattr(i, "session", None) is not None and i.session.client is not None for i in inputs):
            return running
        if running.done():
            running.result()
        if time.monotonic() > deadline:
            raise AssertionError("the mqtt input did not connect within 10s")
        await asyncio.sleep(0.02)


def _innermost(component: Any) -> Any:
    while hasattr(component, "inner"):
        component = component.inner
    return component


def input_config(address: str, topics: list[str], version: str = "3.1.1", extra: str = "") -> str:
    return f"""
input:
  mqtt:
    urls: [tcp://{address}]
    topics: {topics!r}
    protocol_version: "{version}"
{extra}
output:
  inproc: out
"""


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_input_wildcards_and_metadata(run, mqtt_address: str, version: str) -> None:
    base = uid("in")

    async def main() -> None:
        # A retained message published before the subscription arrives flagged as retained.
        await publish(mqtt_address, f"{base}/retained/x", [b"kept"], retain=True, version=version)
        manager = Manager(load(input_config(mqtt_address, [f"{base}/+/x", f"{base}/deep/#"], version)))
        manager.build()
        running = await started(manager)
        try:
            await publish(mqtt_address, f"{base}/a/x", [b"one"], qos=1, version=version)
            await publish(mqtt_address, f"{base}/deep/er/still", [b"two"], qos=0, version=version)
            await publish(mqtt_address, f"{base}/a/not-matching", [b"never"], version=version)
            got = await collect(manager.hub, "out", 3)
        finally:
            manager.stop()
            await running
            await publish(mqtt_address, f"{base}/retained/x", [b""], retain=True)  # clear the retained one
        by_payload = {m.raw: m for m in got}
        assert set(by_payload) == {b"kept", b"one", b"two"}
        kept, one, two = by_payload[b"kept"], by_payload[b"one"], by_payload[b"two"]
        assert kept.meta["mqtt_retained"] is True and kept.meta["mqtt_topic"] == f"{base}/retained/x"
        assert one.meta["mqtt_topic"] == f"{base}/a/x"
        assert one.meta["mqtt_qos"] == 1 and one.meta["mqtt_retained"] is False
        assert one.meta["mqtt_duplicate"] is False and one.meta["mqtt_message_id"] > 0
        assert two.meta["mqtt_topic"] == f"{base}/deep/er/still" and two.meta["mqtt_qos"] == 0

    run(main(), timeout=20)


def test_puback_only_after_delivery(run, mqtt_address: str) -> None:
    """A persistent session: a message whose delivery never completed is redelivered by the broker to the
    next run (so it was not PUBACKed), one that was delivered is not."""
    topic = uid("ack")
    client_id = uuid.uuid4().hex[:20]
    config = input_config(mqtt_address, [topic], extra=f"    client_id: {client_id}\n    clean_session: false\n"
                                                       "shutdown_timeout: 200ms")

    async def main() -> None:
        manager = Manager(load(config))
        manager.build()
        running = await started(manager)
        await publish(mqtt_address, topic, [b"delivered", b"held"])
        batch, ack = await manager.hub.receive("out")
        assert batch[0].raw == b"delivered"
        await ack(None)
        held, _ = await manager.hub.receive("out")  # never acked: the run stops with it in flight
        assert held[0].raw == b"held"
        manager.stop()
        await running

        again = Manager(load(config))
        again.build()
        running = await started(again)
        try:
            got = await collect(again.hub, "out", 1)
            # Nothing else comes: "delivered" was acknowledged to the broker.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(again.hub.receive("out"), 0.5)
        finally:
            again.stop()
            await running
        assert [m.raw for m in got] == [b"held"]
        assert got[0].meta["mqtt_duplicate"] is True

        # Leave no session behind on the broker.
        async with broker(mqtt_address, identifier=client_id, clean_session=True):
            pass

    run(main(), timeout=25)


def test_nacked_message_is_sent_again(run, mqtt_address: str) -> None:
    topic = uid("nack")

    async def main() -> None:
        manager = Manager(load(input_config(mqtt_address, [topic])))
        manager.build()
        running = await started(manager)
        try:
            await publish(mqtt_address, topic, [b"retry me"])
            got = await collect(manager.hub, "out", 1, fail=2)  # nacked twice, then delivered
        finally:
            manager.stop()
            await running
        assert [m.raw for m in got] == [b"retry me"]

    run(main(), timeout=15)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_output_interpolated_topic_qos1_and_retained(run, mqtt_address: str, version: str) -> None:
    base = uid("out")

    async def main() -> None:
        async with broker(mqtt_address, version) as sub:
            await sub.subscribe(f"{base}/#", qos=1)
            await run_config(f"""
input:
  inproc: in
pipeline:
  processors:
    - mapping: 'meta kind = this.kind'
output:
  mqtt:
    urls: [tcp://{mqtt_address}]
    topic: '{base}/${{! meta("kind") }}'
    qos: 1
    protocol_version: "{version}"
""", feed=[b'{"kind":"a","n":1}', b'{"kind":"b","n":2}'])
            got: dict[str, bytes] = {}
            async with asyncio.timeout(5):
                async for msg in sub.messages:
                    got[str(msg.topic)] = msg.payload
                    assert msg.qos == 1
                    if len(got) == 2:
                        break
        assert got == {f"{base}/a": b'{"kind":"a","n":1}', f"{base}/b": b'{"kind":"b","n":2}'}

        # retained: a subscriber arriving later still gets the last message.
        await run_config(f"""
input:
  inproc: in
output:
  mqtt:
    urls: [tcp://{mqtt_address}]
    topic: {base}/status
    retained: true
""", feed=[b"online"])
        async with broker(mqtt_address) as late:
            await late.subscribe(f"{base}/status", qos=1)
            async with asyncio.timeout(5):
                msg = await anext(aiter(late.messages))
            assert msg.payload == b"online" and msg.retain is True
            await late.publish(f"{base}/status", b"", retain=True)

    run(main(), timeout=20)


def test_broker_restart_input_resubscribes_output_recovers(run, mqtt_address: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    topic = uid("restart")
    out_topic = uid("restart-out")

    async def main() -> None:
        manager = Manager(load(f"""
input:
  mqtt:
    urls: [tcp://{mqtt_address}]
    topics: [{topic}]
    keepalive: 5
output:
  inproc: out
"""))
        manager.build()
        running = await started(manager)
        writer = Manager(load(f"""
input:
  inproc: in
output:
  mqtt:
    urls: [tcp://{mqtt_address}]
    topic: {out_topic}
"""))
        writer.build()
        writing = asyncio.ensure_future(writer.run())
        try:
            await publish(mqtt_address, topic, [b"before"])
            assert [m.raw for m in await collect(manager.hub, "out", 1)] == [b"before"]
            try:
                stop_mosquitto()
            finally:
                await asyncio.to_thread(restart_service, "mqtt")
            # Published after the restart: the input must have reconnected and subscribed again.
            deadline = time.monotonic() + 15
            got: list[bytes] = []
            while not got:
                await publish(mqtt_address, topic, [b"after"])
                try:
                    got = [m.raw for m in await asyncio.wait_for(collect(manager.hub, "out", 1), 1.0)]
                except asyncio.TimeoutError:
                    assert time.monotonic() < deadline, "the input did not resubscribe after the restart"
            assert got == [b"after"]
            # The output reconnects too: a write after the restart reaches the broker.
            async with broker(mqtt_address) as sub:
                await sub.subscribe(out_topic, qos=1)
                await asyncio.wait_for(writer.hub.send("in", [Message(b"out after")]), 15)
                async with asyncio.timeout(5):
                    msg = await anext(aiter(sub.messages))
                assert msg.payload == b"out after"
        finally:
            manager.stop()
            writer.stop()
            await running
            await writing

    caplog.set_level("INFO", logger="asyncgate")
    run(main(), timeout=60)
    # One line per state change and component: lost once, reconnected once.
    for where in ("input.mqtt", "output.mqtt"):
        lines = [r.getMessage() for r in caplog.records if where in r.getMessage()]
        assert sum("lost" in line for line in lines) == 1, lines
        assert sum("reconnected" in line for line in lines) == 1, lines


def stop_mosquitto() -> None:
    """Stop the broker (SIGTERM to the pid in its pid file) and wait until its port is closed."""
    pid = int(PIDFILE.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while port_open(PORTS["mqtt"]):
        if time.monotonic() > deadline:
            raise AssertionError("mosquitto did not stop")
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["input", "output"])
def test_wrong_address_fails_with_clear_error(run, kind: str) -> None:
    block = ("input:\n  label: sensors\n  mqtt:\n    urls: [tcp://127.0.0.1:1]\n    topics: [a]\n"
             "    connect_timeout: 2s\noutput:\n  drop: {}\n") if kind == "input" else \
            ("input:\n  inproc: in\noutput:\n  label: sensors\n  mqtt:\n    urls: [tcp://127.0.0.1:1]\n"
             "    topic: a\n    connect_timeout: 2s\n")

    async def main() -> None:
        manager = Manager(load(block))
        with pytest.raises(ComponentError) as info:
            await manager.run()
        text = str(info.value)
        assert "sensors" in text and "tcp://127.0.0.1:1" in text and "refused" in text.lower()

    run(main(), timeout=10)


def test_cli_run_wrong_address_exits_with_message(tmp_path: Path) -> None:
    config = tmp_path / "mqtt.yaml"
    config.write_text("input:\n  label: telemetry\n  mqtt:\n    urls: [tcp://127.0.0.1:1]\n    topics: [a/#]\n"
                      "output:\n  drop: {}\n")
    started_at = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert "telemetry" in proc.stderr and "127.0.0.1:1" in proc.stderr
    assert time.monotonic() - started_at < 20


@pytest.mark.parametrize("body, expected", [
    ("mqtt:\n    urls: [tcp://127.0.0.1:1883]\n    topics: [a]\n    qos: 3", 'qos: "3" is not one of: 0, 1, 2'),
    ("mqtt:\n    urls: [tcp://127.0.0.1:1883]", 'missing required field "topics"'),
    ("mqtt:\n    urls: [tcp://127.0.0.1:1883]\n    topics: [a]\n    protocol_version: '4'",
     "protocol_version"),
    ("mqtt:\n    urls: [tcp://127.0.0.1:1883]\n    topics: [a]\n    clean_sesion: false", 'did you mean "clean_session"'),
])
def test_input_config_errors_are_located(body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(f"input:\n  {body}\noutput:\n  drop: {{}}\n")
    text = str(info.value)
    assert text.startswith("test.yaml:") and expected in text


def test_output_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as info:
        load("input:\n  inproc: in\noutput:\n  mqtt:\n    urls: [tcp://127.0.0.1:1883]\n"
             "    topic: 'a/${! meta(\"x\" }'\n")
    assert str(info.value).startswith("test.yaml:6:") and "interpolation" in str(info.value)
    with pytest.raises(ComponentError) as built:
        Manager(load("input:\n  inproc: in\noutput:\n  mqtt:\n    urls: ['gopher://x:1']\n    topic: a\n")).build()
    assert "unsupported scheme" in str(built.value) and "output" in str(built.value)
