"""Scenario 2, mapping: the JSON lines through

    root.device = this.device
    root.f = this.temp * 1.8 + 32

against the same transformation hand-written with orjson (the baseline), with and without the
compiled extensions. Both read the file and write the new documents, one per line, to /dev/null."""

from ..harness import Competitor, Scenario

MAPPING = "root.device = this.device\nroot.f = this.temp * 1.8 + 32"

SCENARIO = Scenario(
    name="mapping",
    description="JSON lines → mapping `root.device = this.device` / `root.f = this.temp * 1.8 + 32` → lines",
    baseline="orjson_loop",
    competitors=(
        Competitor("orjson_loop", "benchmarks.mapping.orjson_loop",
                   "for each line: orjson.loads, build {device, f}, orjson.dumps, write"),
        Competitor("asyncgate", "benchmarks.mapping.asyncgate",
                   "stream: file input (lines) → mapping processor → file output /dev/null, compiled extensions"),
        Competitor("asyncgate_no_extensions", "benchmarks.mapping.asyncgate",
                   "the same with ASYNCGATE_NO_EXTENSIONS=1 (pure-Python twins)",
                   env={"ASYNCGATE_NO_EXTENSIONS": "1"}),
    ),
)
