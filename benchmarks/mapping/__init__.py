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
    notes="""\
Profile notes (py-spy and perf on the `asyncgate` competitor, 1M lines). Before the line-batch path
(1.33–1.44× the orjson loop): `FlatMap.run_many` 38% of the samples (its per-message float formatting through
`orjson.dumps` and the scan), then per-message objects and loops around it: `Codec.frame`'s `endswith`
generator 8%, `[m.raw for m in msgs]` 4%, split + `new_batch` + `copy_batch` (redelivery copy) + `derive_batch`
~10%. Now a chunk of lines stays one `LineBatch` from the file input through a flat mapping to the file/drop
output (`FlatMap.run_lines`: one call per 64 KiB chunk, no Message or bytes object per line; floats
formatted by orjson once per chunk; anything the scanner does not handle sends the chunk down the
message path, so errors and metadata are exactly as before): 2.5–2.8× in the same runs. What limits it now
(perf): the validating scan of each whole document (`_string`, `Projector._locate`, `_number`, key
matching: ~55% of the samples), `_eval`/`_write` ~10%, orjson's float formatting ~3%, reading the file
~5%. 3× needs a faster scanner (SIMD structural scan) — the 140-byte line costs ~230 ns of the ~400 ns
per message.""",
)
