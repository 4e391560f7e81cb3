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
  broadcast    WebSocket broadcast to 50 and 500 subscribers and round-robin to 50: the gateway against a
               hand-written Starlette hub and a bare-transport bound, one raw-socket client harness;
               deliveries/s and p50/p99 latency (benchmarks/broadcast/__init__.py)
  kafka        Kafka (Tansu, 1M small messages preloaded; 100k with --quick) → drop through the kafka input,
               against a raw confluent-kafka consume() loop in the same run (benchmarks/kafka/__init__.py)
  post_ingest  HTTP POSTs under load from `wrk` (installed with apt-get when missing and root): asyncgate serve
               with API-key auth and a never-refusing rate limit into a stream → drop, against a bare
               Starlette endpoint; requests/s and p50/p99 latency (benchmarks/post_ingest/__init__.py)
  memory       RSS per idle WebSocket subscriber at 1k and 10k connections against the hand-written Starlette
               hub, and RSS growth per 1M messages through a file → drop stream (benchmarks/memory/__init__.py)

  peers        Bytewax, Quix Streams and Faust on the mapping and kafka workloads, each in its own
               virtualenv under benchmarks/.peers/ (created once, on demand, from pinned versions), against
               the same baselines and asyncgate (benchmarks/peers/scenario.py). ASYNCGATE_BENCH_PEERS=0
               leaves it out; its smoke test runs only with ASYNCGATE_BENCH_PEERS=1.

Every scenario's wall time is recorded in the results (`seconds`, and the whole run's beside the settings);
`--quick` runs the whole suite in under 3 minutes on a 2-core machine, the full suite in under 15.

`python -m benchmarks.render` turns the newest results file into RESULTS.md and a PNG chart per
scenario (also done at the end of every run).
"""
