"""Baseline: a plain confluent-kafka consume() loop over the preloaded topic, from the start."""

from __future__ import annotations

import os
import uuid

from ..competitor import main


def run_once(_path: str) -> int:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    topic = os.environ["ASYNCGATE_BENCH_KAFKA_TOPIC"]
    total = int(os.environ["ASYNCGATE_BENCH_KAFKA_MESSAGES"])
    partitions = int(os.environ["ASYNCGATE_BENCH_KAFKA_PARTITIONS"])
    consumer = Consumer({"bootstrap.servers": os.environ["ASYNCGATE_BENCH_KAFKA_ADDRESS"],
                         "group.id": f"raw-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                         "fetch.queue.backoff.ms": 20})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    count = 0
    try:
        while count < total:
            for m in consumer.consume(10_000, 0.1):
                if m.error() is None:
                    m.value()
                    count += 1
    finally:
        consumer.close()
    return count


if __name__ == "__main__":
    main(run_once)
