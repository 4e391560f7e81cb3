"""The `kafka` input and output against a real Kafka-protocol broker (Tansu, started per session by
the `kafka_address` fixture), checked with confluent-kafka's own consumer and producer.

Every topic and consumer group is unique to its test. Group joins take about half of
`group.session_timeout` on Tansu (the input's default, 6s, gives ~3s)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


# -- helpers -------------------------------------------------------------------------------------
def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(address: str, partitions: int = 1) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = name("t")
    admin = AdminClient({"bootstrap.servers": address})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)
    return topic


def produce(address: str, topic: str, values: list[bytes], partition: int | None = None,
            headers: list[tuple[str, bytes]] | None = None) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": address, "linger.ms": 1})
    failed: list[Any] = []
    for i, value in enumerate(values):
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        producer.produce(topic, value, key=b"key-%d" % i, headers=headers,
                         on_delivery=lambda err, _m: failed.append(err) if err else None, **extra)
    assert producer.flush(15) == 0 and not failed, failed


def read_topic(address: str, topic: str, count: int, timeout: float = 15.0) -> list[Any]:
    """COUNT messages from every partition of TOPIC, read from the start (assign: no group join)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": address, "group.id": name("reader"), "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            for m in consumer.consume(100, 0.2):
                if m.error() is None:
                    got.append(m)
        return got
    finally:
        consumer.close()


def committed(address: str, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offset per partition (-1001 where none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": address, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def input_config(address: str, topic: str, group: str, extra: str = "") -> str:
    return f"""
input:
  kafka:
    addresses: [{address}]
    topics: [{topic}]
    consumer_group: {group}
    commit_period: 100ms{extra}
output:
  inproc: out
"""


def dead_address() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# -- input ---------------------------------------------------------------------------------------
def test_input_delivers_with_metadata_and_commits_after_delivery(kafka_address: str, run: Any) -> None:
    topic = create_topic(kafka_address, partitions=2)
    group = name("g")
    values = [b'{"n":%d}' % i for i in range(20)]
    produce(kafka_address, topic, values, headers=[("trace", b"abc"), ("trace", b"def")])

    got = run(run_config(input_config(kafka_address, topic, group), expect=20), timeout=30)

    assert sorted(m.raw for m in got) == sorted(values)
    by_offset = {(m.meta["kafka_partition"], m.meta["kafka_offset"]): m for m in got}
    assert len(by_offset) == 20
    sample = got[0]
    assert sample.meta["kafka_topic"] == topic
    assert sample.meta["kafka_key"].startswith("key-")
    assert sample.meta["trace"] == "abc"  # the first value of a repeated header
    assert sample.meta["kafka_timestamp_ms"] // 1000 == sample.meta["kafka_timestamp_unix"]
    assert abs(sample.meta["kafka_timestamp_unix"] - time.time()) < 120
    assert sample.meta["kafka_tombstone_message"] is False
    per_partition = [sum(1 for m in got if m.meta["kafka_partition"] == p) for p in (0, 1)]
    # Every message was delivered before the shutdown, so everything is committed.
    assert committed(kafka_address, group, topic, 2) == per_partition


def test_output_failure_never_commits_and_messages_come_again(kafka_address: str, run: Any) -> None:
    topic = create_topic(kafka_address)
    group = name("g")
    values = [b"m%d" % i for i in range(5)]
    produce(kafka_address, topic, values)

    async def failing() -> int:
        # The runtime's re-send waits for a reader that is gone: shutdown gives it up after 1s.
        manager = Manager(load(input_config(kafka_address, topic, group) + "shutdown_timeout: 1s\n"))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        nacks = 0
        deadline = asyncio.get_running_loop().time() + 20
        while nacks < 3 and asyncio.get_running_loop().time() < deadline:  # the runtime re-sends each time
            _batch, ack = await manager.hub.receive("out")
            await ack(RuntimeError("output down"))
            nacks += 1
        await asyncio.sleep(0.3)  # three commit periods pass: nothing may be committed
        manager.stop()
        await running
        return nacks

    assert run(failing(), timeout=40) == 3
    assert committed(kafka_address, group, topic, 1) == [-1001]

    got = run(run_config(input_config(kafka_address, topic, group), expect=5), timeout=30)
    assert sorted(m.raw for m in got) == sorted(values)
    assert committed(kafka_address, group, topic, 1) == [5]


def test_explicit_partitions_without_a_group(kafka_address: str, run: Any) -> None:
    topic = create_topic(kafka_address, partitions=3)
    produce(kafka_address, topic, [b"p0-a", b"p0-b"], partition=0)
    produce(kafka_address, topic, [b"p1-a"], partition=1)
    produce(kafka_address, topic, [b"p2-a", b"p2-b"], partition=2)
    config = f"""
input:
  kafka_franz:
    seed_brokers: [{kafka_address}]
    topics: ["{topic}:1-2"]
output:
  inproc: out
"""
    got = run(run_config(config, expect=3), timeout=20)
    assert sorted(m.raw for m in got) == [b"p1-a", b"p2-a", b"p2-b"]
    assert {m.meta["kafka_partition"] for m in got} == {1, 2}


def test_metadata_seen_by_mappings_and_copies(kafka_address: str, run: Any) -> None:
    """The metadata is made only when asked for (engine.message.MetaSource): what a mapping, a copy
    and the message itself see is the same, tombstones and repeated headers included."""
    topic = create_topic(kafka_address)
    produce(kafka_address, topic, [b"a", None, b"c"], partition=0,  # type: ignore[list-item]
            headers=[("trace", b"abc"), ("trace", b"def"), ("kafka_topic", b"spoof")])
    config = f"""
input:
  kafka:
    addresses: [{kafka_address}]
    topics: ["{topic}:0"]
    multi_header: true
pipeline:
  processors:
    - mapping: |
        root = @
        root.via_function = meta("kafka_offset")
        meta seen = @kafka_key
output:
  inproc: out
"""
    got = run(run_config(config, expect=3), timeout=20)
    assert [m.meta["kafka_offset"] for m in got] == [0, 1, 2]
    for i, m in enumerate(got):
        seen = m.structured
        assert seen.pop("via_function") == str(i)
        expected = {"kafka_key": f"key-{i}", "kafka_topic": topic, "kafka_partition": 0, "kafka_offset": i,
                    "kafka_tombstone_message": i == 1, "trace": ["abc", "def"]}
        assert {k: seen[k] for k in expected} == expected
        assert seen["kafka_timestamp_ms"] // 1000 == seen["kafka_timestamp_unix"]
        assert seen["kafka_lag"] >= 0
        assert m.meta == {**seen, "seen": f"key-{i}"} and m.copy().meta == m.meta


def test_restarted_run_resumes_from_the_commit_without_loss_or_duplicates(kafka_address: str,
                                                                          tmp_path: Path) -> None:
    topic = create_topic(kafka_address, partitions=2)
    out = tmp_path / "out.jsonl"
    config = tmp_path / "kafka.yaml"
    config.write_text(f"""
input:
  kafka:
    addresses: [{kafka_address}]
    topics: [{topic}]
    consumer_group: {name("g")}
output:
  file:
    path: {out}
    codec: lines
""")

    def lines() -> list[str]:
        return out.read_text().splitlines() if out.exists() else []

    def run_until(count: int) -> None:
        proc = subprocess.Popen([PYTHON, "-m", "engine", "run", str(config)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while len(lines()) < count and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert len(lines()) >= count, proc.stderr.read() if proc.poll() is not None else "timed out"
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err

    produce(kafka_address, topic, [b"first-%d" % i for i in range(15)])
    run_until(15)
    produce(kafka_address, topic, [b"second-%d" % i for i in range(15)])
    run_until(30)
    got = lines()
    expected = [f"first-{i}" for i in range(15)] + [f"second-{i}" for i in range(15)]
    assert sorted(got) == sorted(expected)  # nothing lost, nothing twice


def test_rebalance_between_two_members_loses_nothing(kafka_address: str, run: Any) -> None:
    topic = create_topic(kafka_address, partitions=4)
    group = name("g")
    config = input_config(kafka_address, topic, group)

    async def scenario() -> tuple[list[Message], list[Message]]:
        first = Manager(load(config))
        first.build()
        first_run = asyncio.ensure_future(first.run())
        got_first: list[Message] = []
        got_second: list[Message] = []
        await asyncio.to_thread(produce, kafka_address, topic, [b"a%d" % i for i in range(40)])
        got_first += await collect(first.hub, "out", 40)
        # A second member joins: the group rebalances while more messages arrive.
        second = Manager(load(config))
        second.build()
        second_run = asyncio.ensure_future(second.run())
        pump_first = asyncio.ensure_future(_drain(first, got_first))
        pump_second = asyncio.ensure_future(_drain(second, got_second))
        # The group rebalances: each member ends up with some of the partitions.
        await _wait(lambda: bool(assigned(first)) and bool(assigned(second)), 25)
        assert len(assigned(first) | assigned(second)) == 4
        await asyncio.to_thread(produce, kafka_address, topic, [b"b%d" % i for i in range(40)])
        await _wait(lambda: len({m.raw for m in got_first + got_second}) >= 80, 25)
        # The first member leaves; the second takes every partition over.
        first.stop()
        await first_run
        await asyncio.to_thread(produce, kafka_address, topic, [b"c%d" % i for i in range(40)])
        await _wait(lambda: len({m.raw for m in got_first + got_second}) >= 120, 25)
        second.stop()
        await second_run
        pump_first.cancel()
        pump_second.cancel()
        return got_first, got_second

    got_first, got_second = run(scenario(), timeout=60)
    seen = {m.raw for m in got_first + got_second}
    expected = {b"%s%d" % (p, i) for p in (b"a", b"b", b"c") for i in range(40)}
    assert seen == expected
    assert {m.raw for m in got_second} >= {b"c%d" % i for i in range(40)}


def assigned(manager: Manager) -> set[tuple[str, int]]:
    """The partitions the kafka input of MANAGER holds now."""
    from engine.components.inputs.kafka import KafkaInput

    component: Any = manager.streams["main"].input
    while not isinstance(component, KafkaInput):
        component = component.inner
    return set(component._parts)


async def _drain(manager: Manager, into: list[Message]) -> None:
    while True:
        batch, ack = await manager.hub.receive("out")
        into.extend(batch)
        await ack(None)


async def _wait(condition: Any, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# -- output --------------------------------------------------------------------------------------
def test_output_confirms_with_key_partition_and_headers(kafka_address: str, run: Any) -> None:
    topic = create_topic(kafka_address, partitions=3)
    config = f"""
input:
  inproc: in
pipeline:
  processors:
    - mapping: |
        meta kafka_drop_me = "x"
        meta region = "eu"
        root = this
output:
  kafka:
    addresses: [{kafka_address}]
    topic: '{topic}'
    key: '${{! this.id }}'
    partitioner: manual
    partition: '${{! this.id % 3 }}'
    static_headers: {{origin: asyncgate}}
    metadata:
      exclude_prefixes: [kafka_]
"""
    run(run_config(config, feed=[b'{"id":%d}' % i for i in range(6)]), timeout=20)
    got = read_topic(kafka_address, topic, 6)
    assert len(got) == 6
    for m in got:
        ident = int(m.key())
        assert m.value() == b'{"id":%d}' % ident
        assert m.partition() == ident % 3
        assert dict(m.headers()) == {"origin": b"asyncgate", "region": b"eu"}


def test_output_to_input_round_trip_with_interpolated_topic(kafka_address: str, run: Any) -> None:
    topic = create_topic(kafka_address, partitions=2)
    group = name("g")
    config = f"""
input:
  inproc: in
output:
  kafka:
    addresses: [{kafka_address}]
    topic: '${{! meta("dest") }}'
    partitioner: murmur2_hash
    key: k
"""
    run(run_config(config, feed=[Message(b"v%d" % i, {"dest": topic}) for i in range(10)]), timeout=20)
    got = run(run_config(input_config(kafka_address, topic, group), expect=10), timeout=30)
    assert sorted(m.raw for m in got) == sorted(b"v%d" % i for i in range(10))
    assert {m.meta["kafka_partition"] for m in got} == {got[0].meta["kafka_partition"]}  # one key, one partition
    assert all(m.meta["dest"] == topic for m in got)  # metadata went out as a header and came back


def test_output_write_fails_when_the_message_is_refused(kafka_address: str, run: Any) -> None:
    from engine.components.outputs.kafka import KafkaOutput

    topic = create_topic(kafka_address)
    manager = Manager(load(f"""
input:
  inproc: in
output:
  kafka:
    addresses: [{kafka_address}]
    topic: {topic}
    partitioner: manual
    partition: '${{! this.p }}'
"""))
    manager.build()
    runner = manager.streams["main"].output
    assert isinstance(runner.output, KafkaOutput)

    async def scenario() -> str:
        await runner.connect()
        try:
            await runner.write([Message(b'{"p":0}')])  # delivered
            with pytest.raises(Exception) as failure:
                await runner.write([Message(b'{"p":7}')])  # no partition 7: the broker's report is an error
            return str(failure.value)
        finally:
            await runner.close(5)

    error = run(scenario(), timeout=20)
    assert "output kafka" in error or "output.kafka" in error
    assert [m.value() for m in read_topic(kafka_address, topic, 1)] == [b'{"p":0}']


# -- failures and configuration ------------------------------------------------------------------
@pytest.mark.parametrize("side", ["input", "output"])
def test_wrong_address_fails_at_connect_naming_connector_and_address(side: str, run: Any) -> None:
    address = dead_address()
    if side == "input":
        config = f"input:\n  kafka:\n    addresses: [{address}]\n    topics: [x]\n    consumer_group: g\n" \
                 f"output:\n  drop: {{}}\n"
    else:
        config = f"input:\n  inproc: in\noutput:\n  kafka:\n    addresses: [{address}]\n    topic: x\n"
    manager = Manager(load(config))
    started = time.monotonic()
    with pytest.raises(ComponentError) as failure:
        run(manager.run(), timeout=20)
    assert time.monotonic() - started < 10
    text = str(failure.value)
    assert f"{side}.kafka" in text and address in text and "cannot reach" in text


def test_asyncgate_run_exits_with_a_clear_error_on_a_wrong_address(tmp_path: Path) -> None:
    address = dead_address()
    config = tmp_path / "bad.yaml"
    config.write_text(f"input:\n  kafka:\n    addresses: [{address}]\n    topics: [x]\n    consumer_group: g\n"
                      "output:\n  drop: {}\n")
    proc = subprocess.run([PYTHON, "-m", "engine", "run", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode != 0
    assert "input.kafka" in proc.stderr and address in proc.stderr


def test_unknown_topic_on_the_input_is_a_clear_error(kafka_address: str, run: Any) -> None:
    missing = name("missing")
    manager = Manager(load(input_config(kafka_address, missing, name("g"))))
    with pytest.raises(ComponentError) as failure:
        run(manager.run(), timeout=20)
    text = str(failure.value)
    assert "input.kafka" in text and missing in text and "does not exist" in text


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"test.yaml:\d+:\d+: .*topic"):
        load("input:\n  inproc: in\noutput:\n  kafka:\n    addresses: [h:1]\n")
    with pytest.raises(ConfigError, match=r"test.yaml:\d+:\d+: .*partitioner"):
        load("input:\n  inproc: in\noutput:\n  kafka:\n    addresses: [h:1]\n    topic: t\n    partitioner: nope\n")

    def build_error(yaml: str) -> str:
        with pytest.raises(ComponentError) as failure:
            Manager(load(yaml)).build()
        return str(failure.value)

    text = build_error("input:\n  kafka:\n    addresses: [h:1]\n    topics: ['a:0', b]\noutput:\n  drop: {}\n")
    assert "input.kafka" in text and "cannot be mixed" in text
    text = build_error("input:\n  kafka:\n    addresses: [h:1]\n    topics: [a]\noutput:\n  drop: {}\n")
    assert "consumer_group is required" in text
    text = build_error("input:\n  kafka:\n    topics: ['a:0']\noutput:\n  drop: {}\n")
    assert "at least one broker address" in text
    text = build_error("input:\n  inproc: in\noutput:\n  kafka:\n    addresses: [h:1]\n    topic: t\n"
                       "    partitioner: manual\n")
    assert "output.kafka" in text and "partition is required" in text
