"""The data sets: JSON lines of sensor readings, generated deterministically and cached."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import orjson

VERSION = 1  # bump when the generator changes, so cached files are not reused
SITES = ("berlin-3", "paris-1", "london-7", "madrid-2", "oslo-4")


def cache_dir() -> Path:
    base = os.environ.get("ASYNCGATE_BENCH_DATA") or os.path.join(tempfile.gettempdir(), "asyncgate-bench")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def reading(rnd: random.Random, i: int) -> dict[str, object]:
    """One line, ~140 bytes: what an IoT gateway typically forwards."""
    return {
        "device": f"sensor-{rnd.randrange(10000):05d}",
        "ts": 1_700_000_000_000 + i * 37,
        "temp": round(rnd.uniform(-20, 40), 2),
        "humidity": round(rnd.uniform(10, 90), 1),
        "battery": rnd.randrange(100),
        "site": rnd.choice(SITES),
        "ok": rnd.random() > 0.1,
        "tags": ["indoor" if rnd.random() > 0.5 else "outdoor", "v2"],
    }


def json_lines(count: int) -> Path:
    """The path of a file of COUNT JSON lines (created once per count)."""
    path = cache_dir() / f"readings-v{VERSION}-{count}.jsonl"
    if path.exists():
        return path
    rnd = random.Random(42)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        batch: list[bytes] = []
        for i in range(count):
            batch.append(orjson.dumps(reading(rnd, i)))
            if len(batch) == 10_000:
                f.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            f.write(b"\n".join(batch) + b"\n")
    os.replace(tmp, path)
    return path
