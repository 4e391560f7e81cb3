"""Quix Streams: an Application (consumer group, `auto_offset_reset="earliest"`) with a
StreamingDataFrame on the preloaded topic and nothing after it (the values stay bytes, as the baseline
only takes them), run until it has processed every message (`app.run(count=N)`)."""

from __future__ import annotations

import os
import tempfile
import uuid

from quixstreams import Application

from benchmarks.competitor import main
from benchmarks.peers.settings import FETCH, GROUP


def run_once(_path: str) -> int:
    total = int(os.environ["ASYNCGATE_BENCH_KAFKA_MESSAGES"])
    with tempfile.TemporaryDirectory() as state_dir:
        app = Application(broker_address=os.environ["ASYNCGATE_BENCH_KAFKA_ADDRESS"],
                          consumer_group=f"quix-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
                          state_dir=state_dir, loglevel="WARNING",
                          consumer_extra_config={**FETCH, **GROUP})
        app.dataframe(app.topic(os.environ["ASYNCGATE_BENCH_KAFKA_TOPIC"], value_deserializer="bytes"))
        app.run(count=total, collect=False)
    return total


if __name__ == "__main__":
    main(run_once)
