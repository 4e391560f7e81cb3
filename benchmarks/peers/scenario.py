"""Scenario 7, peers: other Python stream processors on scenario 2's mapping and scenario 3's Kafka
ingest, each peer written the way its own documentation reads a file / a Kafka topic, in its own
virtualenv (benchmarks/peers/venvs.py) and its own process, against the same baselines (the orjson
loop; the raw confluent-kafka loop) and against asyncgate, all measured in the same run.

One `peers` scenario rather than extra competitors of `mapping` and `kafka`: it sets up what only the
peers need (their virtualenvs; a Tansu broker for the mapping workload too, since Quix Streams' file
source produces into Kafka), it can be left out (ASYNCGATE_BENCH_PEERS=0) without touching the other
scenarios, and its table shows both ratios (× baseline, × asyncgate) side by side with each peer's
version or why it is missing. A peer that does not install is reported as unavailable (pip's last
error line), one that fails at run time as failed (its last stderr line): neither fails the run."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import data, harness
from ..harness import Competitor
from ..kafka import ENV_ADDRESS, ENV_MESSAGES, ENV_PARTITIONS, ENV_TOPIC, PARTITIONS, preload, tansu
from . import venvs

ENV_SWITCH = "ASYNCGATE_BENCH_PEERS"  # "0": leave the peers scenario out (no virtualenv is created)
REFERENCE = "asyncgate"
# Messages per workload (the other scenarios take a million): the slowest peer, Faust's Kafka consumer, manages
# ~4k messages/s here, and each of its repeats is a process of its own.
QUICK_LINES = 30_000
FULL_LINES = 100_000
FULL_REPEAT = 3


@dataclass(frozen=True)
class Peer:
    name: str
    distribution: str
    requirements: tuple[str, ...]  # pinned: a peer's figures belong to one version
    workloads: dict[str, str]  # workload → how the peer does it (its module: benchmarks.peers.<name>_<workload>)
    not_applicable: dict[str, str] = field(default_factory=dict)  # workload → why the peer has no program for it


PEERS = (
    Peer("bytewax", "bytewax", ("bytewax[kafka]==0.21.1", "orjson>=3.9,<4"), {
        "mapping": "FileSource → op.map (orjson) → a DynamicSink writing lines to /dev/null; cli_main, 1 worker",
        "kafka": "KafkaSource (tail=False, from the beginning) → a DynamicSink that drops; cli_main, 1 worker",
    }),
    Peer("quixstreams", "quixstreams", ("quixstreams==3.28.1",), {
        "mapping": "LocalFileSource (JSON lines, replay_speed=0) → Kafka topic → sdf.apply → BatchingSink "
                   "writing lines to /dev/null; app.run(count=N)",
        "kafka": "Application, consumer group (subscribe) → StreamingDataFrame on the topic, bytes values; "
                 "app.run(count=N)",
    }),
    Peer("faust", "faust-streaming", ("faust-streaming==0.15.3",), {
        "kafka": "App + agent iterating the topic stream (raw values, consumer group via aiokafka); "
                 "Worker, timed to the last message",
    }, {"mapping": "Faust has no file source: its agents read Kafka topics or in-process channels"}),
)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    baseline: Competitor
    asyncgate: Competitor


WORKLOADS = (
    Workload("mapping", "scenario 2: JSON lines file → `root.device = this.device` / `root.f = this.temp * 1.8 + 32` "
             "→ lines to /dev/null",
             Competitor("orjson_loop", "benchmarks.mapping.orjson_loop",
                        "for each line: orjson.loads, build {device, f}, orjson.dumps, write"),
             Competitor(REFERENCE, "benchmarks.mapping.asyncgate",
                        "stream: file input → mapping processor → file output /dev/null, compiled extensions")),
    Workload("kafka", f"scenario 3: Kafka (Tansu, {PARTITIONS} partitions, preloaded) → drop",
             Competitor("raw_consume", "benchmarks.kafka.raw_consume",
                        "confluent-kafka: consume(10000, timeout 0.1s) on the assigned partitions"),
             Competitor(REFERENCE, "benchmarks.kafka.asyncgate",
                        "stream: kafka input (explicit partitions, consumer group commits) → drop, compiled "
                        "extensions")),
)


@dataclass(frozen=True)
class PeersScenario:
    name: str
    description: str
    baseline: str = "per workload"

    def run(self, quick: bool, lines: int | None, repeat: int, log: Any = None) -> dict[str, Any]:
        if os.environ.get(ENV_SWITCH) == "0":
            return {"description": self.description, "skipped": f"{ENV_SWITCH}=0"}
        count = lines or (QUICK_LINES if quick else FULL_LINES)
        # One repeat keeps --quick under 3 minutes, these sizes the full suite under 15.
        repeat = 1 if quick else min(repeat, FULL_REPEAT)
        if log:
            log(f"{self.name}: {count} messages, {repeat} repeat(s)")
        peers = {p.name: venvs.ensure(p.name, p.distribution, p.requirements, log) for p in PEERS}
        data_path = data.json_lines(count)
        workloads: dict[str, Any] = {}
        with tansu() as address:  # the kafka workload's, and Quix Streams' file source writes into Kafka
            env = {ENV_ADDRESS: address, ENV_MESSAGES: str(count), ENV_PARTITIONS: str(PARTITIONS)}
            for workload in WORKLOADS:
                if workload.name == "kafka":
                    env[ENV_TOPIC] = f"bench-{uuid.uuid4().hex[:8]}"
                    started = time.perf_counter()
                    preload(address, env[ENV_TOPIC], data_path)
                    if log:
                        log(f"  preloaded {count} messages in {time.perf_counter() - started:.1f}s")
                workloads[workload.name] = measure(workload, peers, data_path, count, repeat, env, log)
        return {"description": self.description, "messages": count, "data_bytes": data_path.stat().st_size,
                "ratio_meaning": "messages/s over the median messages/s of the workload's baseline (ratio) "
                                 f"and of {REFERENCE} (ratio_vs_asyncgate); > 1: faster",
                "peers": peers, "workloads": workloads, "notes": list(NOTES)}


def measure(workload: Workload, peers: dict[str, dict[str, Any]], data_path: Path, count: int, repeat: int,
            env: dict[str, str], log: Any) -> dict[str, Any]:
    """The baseline, asyncgate and every installed peer that does WORKLOAD, each in its own process."""
    competitors = [workload.baseline, workload.asyncgate] + [
        Competitor(p.name, f"benchmarks.peers.{p.name}_{workload.name}", p.workloads[workload.name],
                   python=str(venvs.python(p.name)))
        for p in PEERS if workload.name in p.workloads and peers[p.name]["status"] == "installed"]
    # A peer's failure is reported; ours are not tolerated.
    raw, failed = harness.run_interleaved([replace(c, env=env) for c in competitors], data_path, repeat, log,
                                          f"peers/{workload.name} ", tolerated=lambda c: c.python is not None)
    measured = tuple(c for c in competitors if c.name in raw)
    results = harness.compare(measured, raw, workload.baseline.name, count)
    reference = statistics.median(count / s for s in raw[REFERENCE]["seconds"])
    for result in results.values():
        result["env"] = {}  # the broker's address and topic are this run's, not the competitor's settings
        result["ratio_vs_asyncgate"] = harness.spread([count / s / reference for s in result["repeats"]])
    return {"description": workload.description, "baseline": workload.baseline.name, "competitors": results,
            "not_run": {**{p.name: p.not_applicable[workload.name] for p in PEERS
                           if workload.name in p.not_applicable},
                        **{p.name: f"{peers[p.name]['status']}: {peers[p.name].get('error')}" for p in PEERS
                           if workload.name in p.workloads and peers[p.name]["status"] != "installed"},
                        **{name: f"failed: {error}" for name, error in failed.items()}}}


NOTES = (
    ("Quix Streams has no Kafka-less mode: its file source produces the lines into a Kafka topic (Tansu, from a "
     "process of its own) that the dataframe then consumes, so its mapping figure includes that round trip and a "
     "consumer-group join. That is how Quix Streams reads a file, not the cost of its mapping alone."),
    ("Quix Streams and Faust join a consumer group (subscribe); the others assign partitions explicitly. Tansu "
     "answers a first JoinGroup after about half the session timeout (23 s with librdkafka's default 45 s), so "
     "those two get a 2 s session timeout (about 1.2 s to join, counted in their time)."),
    ("Faust consumes through aiokafka (pure Python), the others through librdkafka (with the baseline's "
     "fetch.queue.backoff.ms 20). Faust is timed from its worker's start to the last message: its shutdown "
     "(a fixed 1 s sentinel among others) is not ingest."),
    ("Bytewax's FileSink fsyncs every batch, which /dev/null refuses, so its mapping writes through a "
     "ten-line DynamicSink; Bytewax and Quix Streams use orjson, as the baseline does."),
)

SCENARIO = PeersScenario(
    name="peers",
    description="Peers (Bytewax, Quix Streams, Faust), each in its own virtualenv and process, on the mapping "
                "and Kafka-ingest workloads of scenarios 2 and 3, against the same baselines and asyncgate",
)
