"""RSS growth of a stream passing messages: a file input (the data set's file listed PASSES times) → drop,
run in-process as `asyncgate run` runs it, while a thread samples this process's RSS and the stream's count
of messages read every SAMPLE_SECONDS. Prints one JSON line: the RSS once WARMUP messages were read and at
the end, and the growth in between per million messages.

    python -m benchmarks.memory.stream_growth --data FILE --passes K --warmup N
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time

from ..gateway import quoted
from ..process import rss_kib

SAMPLE_SECONDS = 0.01

CONFIG = """
input:
  file:
    paths: [{paths}]
    codec: lines
output:
  drop: {{}}
"""


def measure(data: str, passes: int, warmup: int) -> dict[str, object]:
    import uvloop

    from engine import _fast
    from engine.config.loader import load_text
    from engine.runtime.gc_tuning import tune_for_throughput
    from engine.runtime.manager import Manager

    config = CONFIG.format(paths=", ".join([quoted(data)] * passes))
    manager = Manager(load_text(config, "memory.yaml", {}), logging.getLogger("asyncgate.bench"))
    manager.build()
    tune_for_throughput()
    (stream,) = manager.streams.values()
    pid = os.getpid()
    warm: tuple[int, int] | None = None  # (messages read, RSS KiB) at the first sample past WARMUP
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal warm, peak
        while not done.wait(SAMPLE_SECONDS):
            read, rss = stream.read_messages, rss_kib(pid)
            peak = max(peak, rss)
            if warm is None and read >= warmup:
                warm = (read, rss)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    if not uvloop.run(manager.run()):
        raise RuntimeError("the stream did not deliver everything")
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    end_rss = rss_kib(pid)
    total = stream.read_messages
    if warm is None or total <= warm[0]:
        raise RuntimeError(f"no RSS sample between {warmup} and {total} messages (the run took {seconds:.2f}s)")
    grown = end_rss - warm[1]
    return {"messages": total, "seconds": seconds, "warm_messages": warm[0], "rss_warm_kib": warm[1],
            "rss_end_kib": end_rss, "rss_peak_kib": max(peak, end_rss),
            "kib_per_million": grown * 1e6 / (total - warm[0]), "extensions": _fast.COMPILED}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--passes", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(measure(args.data, args.passes, args.warmup)) + "\n")
