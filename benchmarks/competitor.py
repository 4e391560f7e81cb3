"""What every competitor module shares: its command line and the JSON line it prints."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def main(run_once: Callable[[str], int | tuple[int, float] | None], extra: Callable[[], dict[str, Any]] | None = None,
         warmup: bool = False) -> None:
    """Parse `--data FILE --repeat N`, call RUN_ONCE(FILE) N times (it returns the number of
    messages it handled, or None for "every line", counted here outside the timing; or (messages,
    seconds) when it times itself: a framework whose shutdown is no part of the work), and print
    {"seconds": [...], "messages": n, ...} as one JSON line. WARMUP: first run it once, untimed, on
    a small file (imports, registries, first-call caches)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seconds: list[float] = []
    messages = 0
    if warmup:
        from .data import json_lines

        run_once(str(json_lines(1000)))
    for _ in range(args.repeat):
        gc.collect()
        start = time.perf_counter()
        handled = run_once(args.data)
        elapsed = time.perf_counter() - start
        if isinstance(handled, tuple):
            handled, elapsed = handled
        seconds.append(elapsed)
        messages = count_lines(args.data) if handled is None else handled
    result: dict[str, Any] = {"seconds": seconds, "messages": messages}
    if extra is not None:
        result.update(extra())
    sys.stdout.write(json.dumps(result) + "\n")


def engine_info() -> dict[str, Any]:
    import engine
    from engine import _fast

    return {"extensions": _fast.COMPILED, "asyncgate": engine.__version__}


def count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
