"""The gateway of the memory scenario's idle subscribers, as `asyncgate serve` runs it (Hypercorn on uvloop,
one worker): an API whose stream (an `inproc` input nothing writes to) goes to an `http_server` output with a
WebSocket path and its default settings. Subscribers connect to /idle/ws and wait.

    python -m benchmarks.memory.asyncgate --port P
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

WS_PATH = "/idle/ws"

IDLE_API = """\
openapi: 3.0.3
info: {title: idle, version: 1.0.0}
paths: {}
x-tyk-api-gateway:
  info: {id: idle, name: idle, state: {active: true}}
  server: {listenPath: {value: /idle/, strip: true}}
x-tyk-streaming:
  streams:
    feed:
      input: {inproc: idle_feed}
      output: {http_server: {ws_path: /ws}}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    api = Path(tempfile.mkdtemp(prefix="asyncgate-bench-")) / "idle.yaml"
    api.write_text(IDLE_API)
    from engine.cli import main as cli

    sys.exit(cli(["serve", "--apis", str(api), "--port", str(args.port), "--log-level", "error"]))


if __name__ == "__main__":
    main()
