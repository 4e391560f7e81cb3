"""AsyncGate: file input (lines) → drop output."""

from __future__ import annotations

from ..competitor import engine_info, main
from ..gateway import quoted, run_stream

CONFIG = """
input:
  file:
    paths: [{path}]
    codec: lines
output:
  drop: {{}}
"""


def run_once(path: str) -> int:
    return run_stream(CONFIG.format(path=quoted(path)))


if __name__ == "__main__":
    main(run_once, engine_info, warmup=True)
