"""Baseline: the transformation hand-written with orjson."""

from __future__ import annotations

import os

import orjson

from ..competitor import main


def run_once(path: str) -> int:
    loads, dumps = orjson.loads, orjson.dumps
    count = 0
    with open(path, "rb") as f, open(os.devnull, "wb") as out:
        write = out.write
        for line in f:
            d = loads(line)
            write(dumps({"device": d["device"], "f": d["temp"] * 1.8 + 32}) + b"\n")
            count += 1
    return count


if __name__ == "__main__":
    main(run_once, lambda: {"orjson": orjson.__version__})
