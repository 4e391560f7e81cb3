"""Quix Streams: LocalFileSource (JSON lines, no replay delay) → StreamingDataFrame.apply → a
BatchingSink writing the lines to /dev/null, run until every line is through (`app.run(count=N)`).

Quix Streams has no Kafka-less mode: a Source produces into a Kafka topic (from its own process) that
the dataframe then consumes, so this runs against the scenario's Tansu broker."""

from __future__ import annotations

import os
import tempfile
import uuid
from functools import cache
from typing import Any

import orjson
from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch
from quixstreams.sources.community.file.local import LocalFileSource

from benchmarks.competitor import count_lines, main
from benchmarks.peers.settings import FETCH, GROUP

_lines = cache(count_lines)  # counted once, outside the timed runs' work


class DevNullLines(BatchingSink):
    def setup(self) -> None:
        self._out = open(os.devnull, "wb")  # noqa: SIM115 - the sink's lifetime, not a block's

    def write(self, batch: SinkBatch) -> None:
        self._out.write(b"".join(orjson.dumps(item.value) + b"\n" for item in batch))


def no_key(_record: dict[str, Any]) -> None:
    return None


def whole(record: dict[str, Any]) -> dict[str, Any]:
    return record


def timestamp(record: dict[str, Any]) -> int:
    return record["ts"]


def convert(d: dict[str, Any]) -> dict[str, Any]:
    return {"device": d["device"], "f": d["temp"] * 1.8 + 32}


def run_once(path: str) -> int:
    total = _lines(path)
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as state_dir:
        app = Application(broker_address=os.environ["ASYNCGATE_BENCH_KAFKA_ADDRESS"], consumer_group=f"quix-{run}",
                          auto_offset_reset="earliest", state_dir=state_dir, loglevel="WARNING",
                          consumer_extra_config={**FETCH, **GROUP})
        source = LocalFileSource(path, key_setter=no_key, value_setter=whole, timestamp_setter=timestamp,
                                 file_format="json", replay_speed=0, name=f"lines-{run}")
        app.dataframe(source=source).apply(convert).sink(DevNullLines())
        app.run(count=total, collect=False)
    return total


if __name__ == "__main__":
    main(run_once)
