"""Bytewax: FileSource → op.map → a sink writing the lines to /dev/null, one worker (`cli_main`, what
`python -m bytewax.run` calls). Bytewax's FileSink fsyncs every batch, which /dev/null refuses, hence
the small custom sink (Bytewax's documented DynamicSink API)."""

from __future__ import annotations

import os

import bytewax.operators as op
import orjson
from bytewax.connectors.files import FileSource
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.run import cli_main

from benchmarks.competitor import main


class _LinesPartition(StatelessSinkPartition[bytes]):
    def __init__(self, counter: list[int]) -> None:
        self._out = open(os.devnull, "wb")  # noqa: SIM115 - the sink's lifetime, not a block's
        self._counter = counter

    def write_batch(self, items: list[bytes]) -> None:
        self._out.write(b"".join(items))
        self._counter[0] += len(items)

    def close(self) -> None:
        self._out.close()


class DevNullLines(DynamicSink[bytes]):
    def __init__(self) -> None:
        self.written = [0]

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LinesPartition:
        return _LinesPartition(self.written)


def convert(line: str) -> bytes:
    d = orjson.loads(line)
    return orjson.dumps({"device": d["device"], "f": d["temp"] * 1.8 + 32}) + b"\n"


def run_once(path: str) -> int:
    flow = Dataflow("mapping")
    lines = op.input("read", flow, FileSource(path))
    sink = DevNullLines()
    op.output("write", op.map("convert", lines, convert), sink)
    cli_main(flow, workers_per_process=1)
    return sink.written[0]


if __name__ == "__main__":
    main(run_once)
