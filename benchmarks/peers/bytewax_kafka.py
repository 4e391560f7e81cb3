"""Bytewax: KafkaSource over the preloaded topic from the beginning, `tail=False` (the input ends at
the partitions' end) → a sink that drops, one worker (`cli_main`)."""

from __future__ import annotations

import os
import uuid

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSource
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.run import cli_main
from confluent_kafka import OFFSET_BEGINNING

from benchmarks.competitor import main


class _CountingPartition(StatelessSinkPartition[object]):
    def __init__(self, counter: list[int]) -> None:
        self._counter = counter

    def write_batch(self, items: list[object]) -> None:
        self._counter[0] += len(items)


class Drop(DynamicSink[object]):
    def __init__(self) -> None:
        self.dropped = [0]

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CountingPartition:
        return _CountingPartition(self.dropped)


def run_once(_path: str) -> int:
    flow = Dataflow("kafka")
    # The same librdkafka fetch setting as the baseline (its 1s default stalls a fast consumer).
    source = KafkaSource([os.environ["ASYNCGATE_BENCH_KAFKA_ADDRESS"]], [os.environ["ASYNCGATE_BENCH_KAFKA_TOPIC"]],
                         tail=False, starting_offset=OFFSET_BEGINNING,
                         add_config={"group.id": f"bytewax-{uuid.uuid4().hex[:8]}", "fetch.queue.backoff.ms": "20"})
    sink = Drop()
    op.output("drop", op.input("kafka", flow, source), sink)
    cli_main(flow, workers_per_process=1)
    return sink.dropped[0]


if __name__ == "__main__":
    main(run_once)
