"""amqp_0_9 input and output against the local RabbitMQ: publisher confirms, metadata and headers,
ack after delivery and nack-requeue on failure, lost connections and a broker restart, wrong
addresses and credentials, config errors. Each test uses its own queue/exchange names."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
import pytest

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from engine.runtime.context import BuildContext
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config
from tests.integration.conftest import restart_service, wait_port

pytestmark = pytest.mark.amqp

ROOT = Path(__file__).resolve().parents[2]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def amqp_url(address: str, user: str = "guest", password: str = "guest") -> str:
    return f"amqp://{user}:{password}@{address}/"


async def wait_for(condition, timeout: float = 5.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


async def queue_depth(ch: aio_pika.abc.AbstractChannel, name: str) -> int:
    declared = await ch.declare_queue(name, passive=True)
    return int(declared.declaration_result.message_count)


async def drain(ch: aio_pika.abc.AbstractChannel, name: str, count: int, timeout: float = 10) -> list:
    queue = await ch.get_queue(name)
    got = []

    async def take() -> None:
        async with queue.iterator() as it:
            async for msg in it:
                await msg.ack()
                got.append(msg)
                if len(got) == count:
                    return

    await asyncio.wait_for(take(), timeout)
    return got


async def leftovers(ch: aio_pika.abc.AbstractChannel, name: str) -> list[bytes]:
    queue = await ch.get_queue(name)
    out = []
    while (msg := await queue.get(no_ack=True, fail=False)) is not None:
        out.append(msg.body)
    return out


def rabbitmqctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], check=False, capture_output=True, text=True, timeout=timeout)


def close_connections_matching(text: str) -> int:
    """Force-close (as a broker would) only the connections whose client properties mention TEXT."""
    listed = rabbitmqctl("-q", "list_connections", "pid", "client_properties", "--no-table-headers")
    closed = 0
    for line in listed.stdout.splitlines():
        if text in line:
            rabbitmqctl("close_connection", line.split("\t")[0], "test: connection lost")
            closed += 1
    return closed


def input_config(address: str, queue: str, extra: str = "") -> str:
    return f"""
input:
  amqp_0_9:
    urls: [{amqp_url(address)}]
    queue: {queue}
    queue_declare: {{ enabled: true, durable: true }}
    prefetch_count: 10
{extra}
output: {{ inproc: out }}
shutdown_timeout: 2s
"""


async def collect_distinct(manager: Manager, expected: set[bytes], timeout: float) -> list[Message]:
    """Everything the input delivers until each of EXPECTED was seen (duplicates allowed: at-least-once)."""
    got: list[Message] = []

    async def take() -> None:
        while not expected <= {m.raw for m in got}:
            got.extend(await collect(manager.hub, "out", 1))

    await asyncio.wait_for(take(), timeout)
    return got


# -- output -------------------------------------------------------------------------------------

def test_output_publishes_with_confirms_headers_and_properties(run, amqp_address) -> None:
    exchange, queue = uid("ex"), uid("q")

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            config = f"""
input: {{ inproc: in }}
output:
  amqp_0_9:
    urls: [{amqp_url(amqp_address)}]
    exchange: {exchange}
    exchange_declare: {{ enabled: true, type: topic, durable: false }}
    key: 'orders.${{! meta("region") }}'
    type: order
    content_type: application/json
    correlation_id: '${{! meta("cid") }}'
    persistent: true
    metadata: {{ exclude_prefixes: [internal_] }}
"""
            # The exchange does not exist yet: the output declares it when it connects. Bind a queue
            # to it before anything is sent, so feed through a manager we start first.
            manager = Manager(load(config))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                await wait_for(lambda: _exchange_exists(conn, exchange))
                q = await ch.declare_queue(queue, auto_delete=True)
                await q.bind(exchange, "orders.eu")
                for payload, meta in ((b'{"id":1}', {"region": "eu", "cid": "c-1", "internal_x": "no", "n": 7}),
                                      (b'{"id":2}', {"region": "us", "cid": "c-2"}),  # routed nowhere
                                      (b'{"id":3}', {"region": "eu", "cid": "c-3"})):
                    await asyncio.wait_for(manager.hub.send("in", [Message(payload, meta)]), 10)
            finally:
                manager.stop()
                await running
            got = await drain(ch, queue, 2)
            assert [m.body for m in got] == [b'{"id":1}', b'{"id":3}']
            first = got[0]
            assert first.routing_key == "orders.eu" and first.exchange == exchange
            assert first.headers == {"region": "eu", "cid": "c-1", "n": 7}
            assert first.content_type == "application/json" and first.type == "order"
            assert first.correlation_id == "c-1"
            assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        finally:
            await conn.close()

    run(main(), timeout=30)


async def _exchange_exists(conn: aio_pika.abc.AbstractConnection, name: str) -> bool:
    ch = await conn.channel()
    try:
        await ch.get_exchange(name, ensure=True)
        return True
    except Exception:  # noqa: BLE001 - a passive declare of a missing exchange closes the channel
        return False
    finally:
        if not ch.is_closed:
            await ch.close()


def test_output_write_fails_on_unroutable_mandatory_and_missing_exchange(run, amqp_address) -> None:
    """A write returns only once confirmed: an unroutable mandatory message and a message to an
    exchange that does not exist both fail the write; the channel is re-opened afterwards."""
    queue = uid("q")

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            await ch.declare_queue(queue, auto_delete=False)
            cc = load(f"""
input: {{ inproc: in }}
output:
  amqp_0_9:
    urls: [{amqp_url(amqp_address)}]
    exchange: '${{! meta("ex") }}'
    key: '${{! meta("key") }}'
    mandatory: true
""").streams["main"].output
            ctx = BuildContext(stream="t", resources={}, hub=InprocHub())
            runner = ctx.build_output(cc)
            await runner.connect()
            try:
                with pytest.raises(Exception, match="unroutable"):
                    await runner.write([Message(b"lost?", {"ex": "", "key": uid("nowhere")})])
                with pytest.raises(Exception, match="NOT_FOUND"):
                    await runner.write([Message(b"lost?", {"ex": uid("missing-ex"), "key": queue})])
                await runner.write([Message(b"ok", {"ex": "", "key": queue})])
            finally:
                await runner.close()
            got = await drain(ch, queue, 1)
            assert [m.body for m in got] == [b"ok"]
            assert await queue_depth(ch, queue) == 0
            await ch.queue_delete(queue)
        finally:
            await conn.close()

    run(main(), timeout=30)


def test_output_reopens_a_lost_connection(run, amqp_address, caplog) -> None:
    """The broker drops the output's connection: the next write fails or reconnects, and after
    it every message is confirmed; the state changes are logged once each."""
    queue, label = uid("q"), uid("pub").replace("-", "_")

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            await ch.declare_queue(queue, auto_delete=False)
            cc = load(f"""
input: {{ inproc: in }}
output:
  label: {label}
  amqp_0_9: {{ urls: [{amqp_url(amqp_address)}], exchange: "", key: {queue}, mandatory: true }}
""").streams["main"].output
            runner = BuildContext(stream="t", resources={}, hub=InprocHub()).build_output(cc)
            await runner.connect()
            try:
                await runner.write([Message(b"before")])
                assert await asyncio.to_thread(close_connections_matching, label) == 1
                await wait_for(lambda: _logged(caplog, "lost ("))  # the output noticed, and said so
                await runner.write([Message(b"after")])
            finally:
                await runner.close()
            got = await drain(ch, queue, 2)
            assert [m.body for m in got] == [b"before", b"after"]
            await ch.queue_delete(queue)
        finally:
            await conn.close()

    run(main(), timeout=30)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("reconnected to" in m for m in messages) == 1, messages
    assert sum(" lost (" in m for m in messages) == 1, messages


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records if r.name.startswith("asyncgate"))


# -- input ----------------------------------------------------------------------------------------

def test_input_metadata_ack_after_delivery_and_nack_requeue(run, amqp_address) -> None:
    queue, exchange = uid("q"), uid("ex")

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            ex = await ch.declare_exchange(exchange, aio_pika.ExchangeType.DIRECT, auto_delete=True)
            config = input_config(amqp_address, queue,
                                  f"    bindings_declare: [ {{ exchange: {exchange}, key: rk }} ]")
            manager = Manager(load(config))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                await wait_for(lambda: _has_consumer(conn, queue))
                await ex.publish(aio_pika.Message(b"payload-1", headers={"tenant": "acme", "attempt": 1},
                                                  content_type="text/plain", correlation_id="corr",
                                                  message_id="m-1", app_id="tests"), routing_key="rk")
                batch, ack = await asyncio.wait_for(manager.hub.receive("out"), 10)
                msg = batch[0]
                assert msg.raw == b"payload-1"
                meta = msg.meta
                assert meta["tenant"] == "acme" and meta["attempt"] == 1
                assert meta["amqp_routing_key"] == "rk" and meta["amqp_exchange"] == exchange
                assert meta["amqp_content_type"] == "text/plain" and meta["amqp_correlation_id"] == "corr"
                assert meta["amqp_message_id"] == "m-1" and meta["amqp_app_id"] == "tests"
                assert meta["amqp_redelivered"] is False
                # Not acked yet: the message is not in the queue's ready count but held by us.
                assert await queue_depth(ch, queue) == 0
                await ack(RuntimeError("output failed"))  # nack: requeued and redelivered
                batch, ack = await asyncio.wait_for(manager.hub.receive("out"), 10)
                assert batch[0].raw == b"payload-1" and batch[0].meta["amqp_redelivered"] is True
                await ack(None)
            finally:
                manager.stop()
                await running
            # Acked: once our consumer is gone nothing comes back to the queue.
            assert await queue_depth(ch, queue) == 0
            await ch.queue_delete(queue)
        finally:
            await conn.close()

    run(main(), timeout=30)


async def _has_consumer(conn: aio_pika.abc.AbstractConnection, queue: str) -> bool:
    ch = await conn.channel()  # a passive declare of a missing queue closes its channel
    try:
        declared = await ch.declare_queue(queue, passive=True)
        return declared.declaration_result.consumer_count > 0
    except Exception:  # noqa: BLE001
        return False
    finally:
        if not ch.is_closed:
            await ch.close()


def test_failing_output_never_acks_the_amqp_message(run, amqp_address) -> None:
    """amqp_0_9 → amqp_0_9 to a queue that does not exist yet (mandatory: unroutable): the source
    message is nacked and requeued, not lost; once the target queue exists, it is delivered."""
    source, target = uid("src"), uid("dst")

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            await ch.declare_queue(source, durable=True)
            await ch.default_exchange.publish(aio_pika.Message(b"precious"), routing_key=source)
            manager = Manager(load(f"""
input:
  amqp_0_9: {{ urls: [{amqp_url(amqp_address)}], queue: {source} }}
output:
  amqp_0_9: {{ urls: [{amqp_url(amqp_address)}], exchange: "", key: {target}, mandatory: true }}
"""))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                # Failing deliveries are paced: the message keeps coming back, never acked.
                await asyncio.sleep(0.5)
                assert manager.streams["main"].read_messages >= 2
                await ch.declare_queue(target, durable=False, auto_delete=False)
                got = await drain(ch, target, 1)
                assert [m.body for m in got] == [b"precious"]
            finally:
                manager.stop()
                await running
            assert await queue_depth(ch, source) == 0
            await ch.queue_delete(source)
            await ch.queue_delete(target)
        finally:
            await conn.close()

    run(main(), timeout=30)


def test_input_reconnects_after_connection_loss_and_loses_nothing(run, amqp_address) -> None:
    """The broker drops the input's connection (rabbitmqctl close_connection, only ours) while a
    message is held unacked downstream and others are prefetched: the input reconnects, they are redelivered, and nothing is lost."""
    queue = uid("q")

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            await ch.declare_queue(queue, durable=True)
            for i in range(5):
                await ch.default_exchange.publish(aio_pika.Message(f"m{i}".encode()), routing_key=queue)
            manager = Manager(load(input_config(amqp_address, queue)))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                held, ack = await asyncio.wait_for(manager.hub.receive("out"), 10)
                assert held[0].raw == b"m0"
                assert await asyncio.to_thread(close_connections_matching, f"queue={queue}") == 1
                await ack(None)  # too late: the channel is gone, the broker redelivers it
                for i in range(5, 8):
                    await ch.default_exchange.publish(aio_pika.Message(f"m{i}".encode()), routing_key=queue)
                got = await collect_distinct(manager, {f"m{i}".encode() for i in range(8)}, 20)
                assert sorted({m.raw.decode() for m in got}) == [f"m{i}" for i in range(8)]
                assert [m.meta["amqp_redelivered"] for m in got if m.raw == b"m0"] == [True]
            finally:
                manager.stop()
                await running
            assert set(await leftovers(ch, queue)) <= {m.raw for m in got}
            await ch.queue_delete(queue)
        finally:
            await conn.close()

    run(main(), timeout=60)


def test_broker_restart_durable_queue_keeps_unacked_messages(run, amqp_address, caplog) -> None:
    """rabbitmqctl stop_app / start_app with persistent messages in a durable queue, some of them
    unacked by the input at the time: after the restart the input reconnects (logging the state
    changes) and every message arrives; none is lost."""
    queue = uid("q")
    port = amqp_address.split(":")[1]

    async def main() -> None:
        conn = await aio_pika.connect(amqp_url(amqp_address))
        ch = await conn.channel()
        await ch.declare_queue(queue, durable=True)
        for i in range(4):
            await ch.default_exchange.publish(
                aio_pika.Message(f"m{i}".encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=queue)
        await conn.close()
        manager = Manager(load(input_config(amqp_address, queue)))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        got = []
        try:
            first, ack_first = await asyncio.wait_for(manager.hub.receive("out"), 10)  # held unacked
            try:
                stopped = await asyncio.to_thread(rabbitmqctl, "stop_app")
                assert stopped.returncode == 0, stopped.stderr
            finally:
                started = await asyncio.to_thread(rabbitmqctl, "start_app")
                await asyncio.to_thread(restart_service, "amqp")
            assert started.returncode == 0, started.stderr
            await ack_first(None)  # too late: that channel is gone, the broker redelivers it
            got = await collect_distinct(manager, {b"m0", b"m1", b"m2", b"m3"}, 40)
        finally:
            manager.stop()
            await running
        assert sorted({m.raw for m in got}) == [b"m0", b"m1", b"m2", b"m3"]
        assert first[0].raw in {m.raw for m in got}
        conn = await aio_pika.connect(amqp_url(amqp_address))
        ch = await conn.channel()
        # Whatever is still queued was in flight at shutdown: a duplicate, never something new.
        assert set(await leftovers(ch, queue)) <= {m.raw for m in got}
        await ch.queue_delete(queue)
        await conn.close()

    try:
        run(main(), timeout=90)
    finally:
        if rabbitmqctl("-q", "status", timeout=60).returncode != 0 or not _port_open(int(port)):
            rabbitmqctl("start_app")
        restart_service("amqp")
        wait_port(int(port), 60)
    lost = [r for r in caplog.records if "connection to" in r.getMessage() and "lost" in r.getMessage()]
    back = [r for r in caplog.records if "reconnected to" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1, [r.getMessage() for r in caplog.records]


def _port_open(port: int) -> bool:
    from tests.integration.conftest import port_open

    return port_open(port)


def test_roundtrip_output_to_input(run, amqp_address) -> None:
    queue = uid("rt")

    async def main() -> None:
        await run_config(f"""
input: {{ inproc: in }}
output:
  amqp_0_9: {{ urls: [{amqp_url(amqp_address)}], exchange: "", key: {queue}, max_in_flight: 8 }}
""", feed=[])  # connects fine with nothing to send
        conn = await aio_pika.connect(amqp_url(amqp_address))
        try:
            ch = await conn.channel()
            await ch.declare_queue(queue, durable=True)
            await run_config(f"""
input: {{ inproc: in }}
output:
  amqp_0_9: {{ urls: [{amqp_url(amqp_address)}], exchange: "", key: {queue}, max_in_flight: 8 }}
""", feed=[Message(f"n{i}".encode(), {"i": i}) for i in range(50)])
            msgs = await run_config(input_config(amqp_address, queue), expect=50)
            assert sorted(int(m.raw[1:]) for m in msgs) == list(range(50))
            assert all(m.meta["i"] == int(m.raw[1:]) for m in msgs)
            await ch.queue_delete(queue)
        finally:
            await conn.close()

    run(main(), timeout=30)


# -- errors -------------------------------------------------------------------------------------------

def test_wrong_address_credentials_and_missing_queue_fail_clearly(run, amqp_address) -> None:
    queue = uid("missing")

    async def main() -> None:
        cases = [
            (("input: { amqp_0_9: { urls: ['amqp://guest:guest@127.0.0.1:1/'], queue: q } }\n"
             "output: { drop: {} }"), ["input.amqp_0_9", "127.0.0.1:1", "cannot connect"]),
            ((f"input: {{ amqp_0_9: {{ urls: ['{amqp_url(amqp_address, password='wrong')}'], queue: q }} }}\n"
             "output: { drop: {} }"), ["input.amqp_0_9", amqp_address, "authentication refused"]),
            ((f"input: {{ amqp_0_9: {{ urls: ['{amqp_url(amqp_address)}'], queue: {queue} }} }}\n"
             "output: { drop: {} }"), ["input.amqp_0_9", queue, "NOT_FOUND"]),
            ("input: { inproc: in }\noutput: { amqp_0_9: { urls: ['amqp://127.0.0.1:1/'], exchange: x } }",
             ["output.amqp_0_9", "127.0.0.1:1", "cannot connect"]),
        ]
        for config, expected in cases:
            manager = Manager(load(config))
            manager.build()
            with pytest.raises(ComponentError) as exc:
                await asyncio.wait_for(manager.run(), 20)
            text = str(exc.value)
            assert all(part in text for part in expected), text
            assert "wrong" not in text  # the password is not shown

    run(main(), timeout=60)


def test_cli_run_wrong_address_exits_with_clear_error(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input:\n  label: orders\n  amqp_0_9:\n    urls: [amqp://guest:guest@127.0.0.1:1/]\n"
                    "    queue: q\noutput: { drop: {} }\n")
    result = subprocess.run([sys.executable, "-m", "engine", "run", str(path)], cwd=ROOT, check=False,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "orders" in result.stderr and "127.0.0.1:1" in result.stderr, result.stderr


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as exc:
        load("input:\n  amqp_0_9:\n    urls: [amqp://127.0.0.1/]\n    queue: q\n    prefetch_count: lots\n"
             "output: { drop: {} }\n")
    assert "test.yaml:5:" in str(exc.value) and "expected an integer" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load("input: { inproc: in }\noutput:\n  amqp_0_9:\n    urls: [amqp://127.0.0.1/]\n    key: k\n")
    assert "test.yaml:4:5" in str(exc.value) and 'missing required field "exchange"' in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load("input: { inproc: in }\noutput:\n  amqp_0_9:\n    urls: [amqp://127.0.0.1/]\n    exchange: e\n"
             "    exchange_declare: { enabled: true, type: dirct }\n")
    assert "test.yaml:6:" in str(exc.value) and 'did you mean "direct"' in str(exc.value).replace("'", '"')
    manager = Manager(load("input:\n  amqp_0_9:\n    urls: [http://127.0.0.1/]\n    queue: q\n"
                           "output: { drop: {} }\n"))
    with pytest.raises(ComponentError, match=r"input\.amqp_0_9.*not an amqp://"):
        manager.build()
