"""Scenario 1, passthrough: JSON lines file → drop, against a plain Python read loop (the baseline)
and `cat FILE > /dev/null`."""

from ..harness import Competitor, Scenario

SCENARIO = Scenario(
    name="passthrough",
    description="JSON lines from a file to nowhere: the engine's per-message floor (file input → drop output)",
    baseline="python_read_loop",
    competitors=(
        Competitor("python_read_loop", "benchmarks.passthrough.python_read_loop",
                   "for line in open(FILE, 'rb'): count"),
        Competitor("cat", "benchmarks.passthrough.cat", "cat FILE > /dev/null"),
        Competitor("asyncgate", "benchmarks.passthrough.asyncgate",
                   "stream: file input (lines) → drop output, compiled extensions"),
        Competitor("asyncgate_no_extensions", "benchmarks.passthrough.asyncgate",
                   "the same with ASYNCGATE_NO_EXTENSIONS=1 (pure-Python twins)",
                   env={"ASYNCGATE_NO_EXTENSIONS": "1"}),
    ),
)
