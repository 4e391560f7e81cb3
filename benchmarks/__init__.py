"""The benchmark suite: ``python -m benchmarks [--quick] [--only NAME]`` (or ``make bench``).

Each scenario is a package here with one module per competitor; every competitor runs in its own
process (``python -m benchmarks.<scenario>.<competitor> --data FILE --repeat N``, which prints its
timings as one JSON line), so that imports, allocators and the GC of one never weigh on another.
Each figure is reported as a ratio against the scenario's baseline measured in the same run
(competitor messages/s over the baseline's median messages/s; min/median/max over the repeats),
with the absolute numbers beside it, in ``benchmarks/results/<date>.json`` together with a
description of the machine.

Scenarios:
  passthrough  1M JSON lines: file → drop, against a plain Python read loop and `cat > /dev/null`
  mapping      the same lines through `root.device = this.device` / `root.f = this.temp * 1.8 + 32`
               (file → mapping → file /dev/null), against the hand-written orjson loop, with and
               without the compiled extensions
"""
