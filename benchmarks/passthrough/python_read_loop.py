"""Baseline: read the lines in a plain Python loop."""

from __future__ import annotations

from ..competitor import main


def run_once(path: str) -> int:
    count = 0
    with open(path, "rb") as f:
        for _line in f:
            count += 1
    return count


if __name__ == "__main__":
    main(run_once)
