"""The gateway as `asyncgate serve` runs it: an API whose stream `feed` (an `inproc` input) goes to an
`http_server` output with `ws_path: /ws` and the mode under test, served on Hypercorn (uvloop). Each run
adds (PUT) a second API through the management API whose stream is a `generate` input (the payload
`root = {"t": timestamp_unix_nano()}`) into `inproc: bench_feed`: the generator starts only once every
subscriber is connected.

    python -m benchmarks.broadcast.asyncgate --port P --mode broadcast|round_robin [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

SECRET = "bench-secret"
PREFIX = "/bench"

BENCH_API = """\
openapi: 3.0.3
info: {{title: bench, version: 1.0.0}}
paths: {{}}
x-tyk-api-gateway:
  info: {{id: bench, name: bench, state: {{active: true}}}}
  server: {{listenPath: {{value: /bench/, strip: true}}}}
x-tyk-streaming:
  streams:
    feed:
      input: {{inproc: bench_feed}}
      output:
        http_server:
          ws_path: /ws
          stream_path: ""
          path: ""
          fan_out: {mode}
          # Large enough for a whole run: throughput runs produce as fast as possible (no drops wanted).
          send_buffer: 100000000
"""

PRODUCER_API = """\
openapi: 3.0.3
info: {{title: producer, version: 1.0.0}}
paths: {{}}
x-tyk-api-gateway:
  info: {{id: producer, name: producer, state: {{active: true}}}}
  server: {{listenPath: {{value: /producer/, strip: true}}}}
x-tyk-streaming:
  streams:
    gen:
      input:
        generate:
          count: {count}
          interval: "{interval}"
          batch_size: {batch}
          mapping: 'root = {{"t": timestamp_unix_nano()}}'
      output: {{inproc: bench_feed}}
"""


def producer_api(count: int, interval: float, batch: int) -> str:
    return PRODUCER_API.format(count=count, interval=f"{interval * 1000:g}ms" if interval > 0 else "", batch=batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("broadcast", "round_robin"), required=True)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="asyncgate-bench-"))
    api = workdir / "bench.yaml"
    api.write_text(BENCH_API.format(mode=args.mode))
    os.environ["ASYNCGATE_ADMIN_SECRET"] = SECRET
    from engine.cli import main as cli

    sys.exit(cli(["serve", "--apis", str(api), "--port", str(args.port), "--log-level", "error"]))


if __name__ == "__main__":
    main()
