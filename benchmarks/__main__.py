"""python -m benchmarks [--quick] [--only NAME]: run the suite and write benchmarks/results/<date>.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"{harness.QUICK_LINES:,} lines and 3 repeats instead of {harness.FULL_LINES:,} and 5")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only this scenario (repeatable): {', '.join(harness.SCENARIOS)}")
    parser.add_argument("--lines", type=int, help="messages per scenario (overrides --quick)")
    parser.add_argument("--repeat", type=int, help="repeats per competitor (overrides --quick)")
    parser.add_argument("--output", type=Path, help="directory for the results file (default benchmarks/results)")
    args = parser.parse_args(argv)
    only = [n for item in args.only or [] for n in item.split(",") if n]

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    path, report = harness.run(only, args.quick, args.lines, args.repeat, args.output, log)
    print(harness.summary(report))
    print(f"results: {path}")
    from .render import render

    print(f"table: {render(path, args.output or Path(__file__).parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
