"""RSS growth of a stream passing messages, in-process as `asyncgate run` runs it: a file → drop stream over
the data set once (the warm-up: allocator pools, caches and first-call work settle), the RSS read; then the
same stream over the data set PASSES − 1 more times, the RSS read again. Prints one JSON line: both RSS
values, the peak (VmHWM) and the growth in between per million messages.

    python -m benchmarks.memory.stream_growth --data FILE --passes K
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ..gateway import quoted, run_stream
from ..process import rss_kib

CONFIG = """
input:
  file:
    paths: [{paths}]
    codec: lines
output:
  drop: {{}}
"""


def peak_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def measure(data: str, passes: int) -> dict[str, object]:
    from engine import _fast

    if passes < 2:
        raise SystemExit("--passes: at least 2 (the first one is the warm-up)")
    warm_messages = run_stream(CONFIG.format(paths=quoted(data)))
    warm = rss_kib(os.getpid())
    started = time.perf_counter()
    messages = run_stream(CONFIG.format(paths=", ".join([quoted(data)] * (passes - 1))))
    seconds = time.perf_counter() - started
    end = rss_kib(os.getpid())
    return {"messages": warm_messages + messages, "warm_messages": warm_messages, "measured_messages": messages,
            "seconds": seconds, "rss_warm_kib": warm, "rss_end_kib": end, "rss_peak_kib": peak_kib(),
            "kib_per_million": (end - warm) * 1e6 / messages, "extensions": _fast.COMPILED}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--passes", type=int, required=True)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(measure(args.data, args.passes)) + "\n")
