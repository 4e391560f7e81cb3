"""AsyncGate: file input (lines) → mapping → file output (lines) to /dev/null."""

from __future__ import annotations

import json
import os

from ..competitor import engine_info, main
from ..gateway import quoted, run_stream
from . import MAPPING

CONFIG = """
input:
  file:
    paths: [{path}]
    codec: lines
pipeline:
  processors:
    - mapping: {mapping}
output:
  file:
    path: {out}
    codec: lines
"""


def run_once(path: str) -> int:
    return run_stream(CONFIG.format(path=quoted(path), mapping=json.dumps(MAPPING), out=quoted(os.devnull)))


if __name__ == "__main__":
    main(run_once, engine_info, warmup=True)
