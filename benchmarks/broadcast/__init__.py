"""Scenario 4, broadcast: WebSocket subscribers of one stream, measured by one client harness.

Cases: `broadcast_50` and `broadcast_500` (every subscriber gets every message), `round_robin_50`
(each message to one subscriber, in turn). Competitors, each a server in its own process:

- `starlette_hub` (the baseline): hand-written Starlette hub, an asyncio.Queue per client, Hypercorn
  on uvloop (starlette_hub.py);
- `asyncgate`: `asyncgate serve` with an API whose `inproc`-fed stream goes to an `http_server` output
  (`ws_path`, `fan_out: broadcast|round_robin`), fed by a `generate` stream (asyncgate.py);
- `asyncgate_embedded`: the same app from `create_app(...)` served by plain Hypercorn, as when it is
  embedded in someone else's ASGI server (pure ASGI: no server extension);
- `transport_bound`: the upper bound, pre-framed bytes written straight to the sockets (transport_bound.py).

The client harness (client.py) is one process of raw asyncio sockets on uvloop: it reports its CPU
time, so that a saturated client would show (`client_cpu` near 1.0 of a core).

All servers of a case run at once (an idle one costs nothing) and take their repeats in rounds (one each,
then again), so that the machine getting faster or slower weighs on each alike. Each repeat (quick: one;
full: at most three) is two runs against the server, each with fresh subscribers:
1. throughput: DELIVERIES (messages × subscribers; quick 60k, full 200k; round robin 40% of that)
   produced as fast as possible, buffers large enough that nothing is dropped; deliveries/s =
   deliveries / (last − first receive time at the client);
2. latency: the same competitor at a fixed offered load of LATENCY_RATE deliveries/s, far below every
   competitor's capacity (so it measures the path, not a queue), a fifth of the deliveries (at most
   LATENCY_MAX); p50/p99 of receive time − the send timestamp in the payload (same machine clock).

Ratios: deliveries/s over the Starlette hub's median (`ratio`), and over the transport bound's median
(`ratio_vs_bound`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..harness import spread
from ..process import ROOT, ServerProcess, bench_env, post

# Sizes that keep the suite within its time (quick under 3 minutes, full under 15 on 2 cores): the slowest
# servers' runs (the hub at 500 subscribers, ~35k deliveries/s; round robin at 10k-15k) last seconds.
QUICK_DELIVERIES = 60_000
FULL_DELIVERIES = 200_000
QUICK_REPEAT = 1
MAX_REPEAT = 3
LATENCY_RATE = 20_000  # deliveries/s offered in the latency runs
LATENCY_MAX = 60_000  # deliveries per latency run
RUN_TIMEOUT = 300.0
STALL_TIMEOUT = 20.0
BASELINE = "starlette_hub"
BOUND = "transport_bound"


@dataclass(frozen=True)
class Case:
    name: str
    mode: str  # broadcast | round_robin
    subscribers: int
    # The part of the run's deliveries this case takes: a round-robin delivery is a whole message through
    # the producer and the stream (the slowest competitors manage ~8k/s), a broadcast one a frame per subscriber.
    share: float = 1.0


CASES = (Case("broadcast_50", "broadcast", 50), Case("broadcast_500", "broadcast", 500),
         Case("round_robin_50", "round_robin", 50, share=0.4))


@dataclass(frozen=True)
class Server:
    name: str
    module: str
    description: str
    ws_path: str
    start: Callable[[int, int, float, int], None]  # (port, count, interval, batch)


def _start_hand_written(port: int, count: int, interval: float, batch: int) -> None:
    post(f"http://127.0.0.1:{port}/start?count={count}&interval={interval}&batch={batch}", b"")


def _start_gateway(port: int, count: int, interval: float, batch: int) -> None:
    from .asyncgate import SECRET, producer_api

    post(f"http://127.0.0.1:{port}/_admin/apis/producer", producer_api(count, interval, batch).encode(),
          {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/yaml"}, method="PUT")


SERVERS = (
    Server(BASELINE, "benchmarks.broadcast.starlette_hub",
           "hand-written Starlette hub: an asyncio.Queue per client, send_bytes per message, Hypercorn on uvloop",
           "/ws", _start_hand_written),
    Server("asyncgate", "benchmarks.broadcast.asyncgate",
           "asyncgate serve: generate → inproc → http_server output (ws_path, fan_out), Hypercorn on uvloop",
           "/bench/ws", _start_gateway),
    Server("asyncgate_embedded", "benchmarks.broadcast.asyncgate_embedded",
           "the same gateway app from create_app() served by plain Hypercorn (the pure-ASGI path of an embedding)",
           "/bench/ws", _start_gateway),
    Server(BOUND, "benchmarks.broadcast.transport_bound",
           "upper bound: handshake by hand, each frame built once and written straight to the sockets (uvloop)",
           "/ws", _start_hand_written),
)


class Running(ServerProcess):
    """One competitor's server process (the gateway: once its streams are up)."""

    def __init__(self, server: Server, mode: str) -> None:
        self.server = server
        super().__init__(server.module, ["--mode", mode],
                         ready_path="/readyz" if server.ws_path.startswith("/bench") else None)


def measure(running: Running, subscribers: int, count: int, expected: int, interval: float, batch: int,
            latency: bool) -> dict[str, Any]:
    """One run: SUBSCRIBERS connect, COUNT messages are produced, until EXPECTED deliveries arrived."""
    cmd = [sys.executable, "-m", "benchmarks.broadcast.client", "--port", str(running.port),
           "--path", running.server.ws_path, "--connections", str(subscribers)]
    if latency:
        cmd.append("--latency")
    client = subprocess.Popen(cmd, cwd=ROOT, env=bench_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        assert client.stdout is not None and client.stdin is not None
        line = client.stdout.readline().strip()
        if line != "connected":
            raise RuntimeError(f"client: {line or client.stderr.read() if client.stderr else ''}")
        time.sleep(0.3)  # let the last handshakes' handlers register their subscriptions
        running.server.start(running.port, count, interval, batch)
        received, last_change = 0, time.monotonic()
        deadline = last_change + RUN_TIMEOUT
        while received < expected:
            line = client.stdout.readline()
            if not line:
                raise RuntimeError(f"client exited: {client.stderr.read() if client.stderr else ''}")
            if line.startswith("progress "):
                n = int(line.split()[1])
                if n != received:
                    received, last_change = n, time.monotonic()
            now = time.monotonic()
            if now - last_change > STALL_TIMEOUT or now > deadline:
                raise RuntimeError(f"{running.server.name}: {received} of {expected} deliveries, then nothing")
        client.stdin.write("report\n")
        client.stdin.flush()
        for line in client.stdout:
            if line.startswith("{"):
                result: dict[str, Any] = json.loads(line)
                break
        else:
            raise RuntimeError(f"client printed no report: {client.stderr.read() if client.stderr else ''}")
        if result["count"] != expected:
            raise RuntimeError(f"{running.server.name}: {result['count']} deliveries, expected {expected}")
        return result
    finally:
        if client.poll() is None:
            try:
                client.wait(10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()


def _pacing(rate: float) -> tuple[float, int]:
    """(interval, batch) producing about RATE messages/s: ticks of at least 1 ms."""
    interval = max(0.001, 1.0 / rate)
    return interval, max(1, round(rate * interval))


def run_case(case: Case, servers: tuple[Server, ...], deliveries: int, repeat: int, subscribers: int | None,
             log: Any) -> dict[str, Any]:
    n = subscribers or case.subscribers
    deliveries = max(2, round(deliveries * case.share))
    per_message = n if case.mode == "broadcast" else 1
    messages = max(2, deliveries // per_message)
    lat_messages = max(2, min(deliveries // 5, LATENCY_MAX) // per_message)
    interval, batch = _pacing(LATENCY_RATE / per_message)
    raw: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {s.name: [] for s in servers}
    # Every server up at once (an idle one costs nothing), their runs in rounds: a drift of the machine's speed
    # weighs on every competitor alike.
    started: list[Running] = []
    try:
        for server in servers:
            started.append(Running(server, case.mode))
        for round_number in range(1, repeat + 1):
            if log:
                log(f"  broadcast/{case.name} round {round_number}/{repeat}: {', '.join(s.name for s in servers)}")
            for running in started:
                thr = measure(running, n, messages, messages * per_message, 0.0, 1, latency=False)
                lat = measure(running, n, lat_messages, lat_messages * per_message, interval, batch, latency=True)
                raw[running.server.name].append((thr, lat))
    finally:
        for running in started:
            running.stop()

    def rate(r: dict[str, Any]) -> float:
        return r["count"] / max(1e-9, (r["last_ns"] - r["first_ns"]) / 1e9)

    base = statistics.median(rate(t) for t, _ in raw[BASELINE]) if BASELINE in raw else None
    bound = statistics.median(rate(t) for t, _ in raw[BOUND]) if BOUND in raw else None
    competitors: dict[str, Any] = {}
    for server in servers:
        runs = raw[server.name]
        rates = [rate(t) for t, _ in runs]
        entry: dict[str, Any] = {
            "description": server.description,
            "deliveries_per_second": spread(rates),
            "seconds": spread([(t["last_ns"] - t["first_ns"]) / 1e9 for t, _ in runs]),
            "latency_ms": {q: spread([lat["latency_ns"][q] / 1e6 for _, lat in runs]) for q in ("p50", "p99")},
            "client_cpu": spread([t["cpu_seconds"] / max(1e-9, (t["last_ns"] - t["first_ns"]) / 1e9)
                                  for t, _ in runs]),
            "repeats": [{"deliveries_per_second": rate(t), "p50_ms": lat["latency_ns"]["p50"] / 1e6,
                         "p99_ms": lat["latency_ns"]["p99"] / 1e6, "per_connection": t["per_connection"]}
                        for t, lat in runs],
        }
        if base:
            entry["ratio"] = spread([r / base for r in rates])
        if bound:
            entry["ratio_vs_bound"] = spread([r / bound for r in rates])
        competitors[server.name] = entry
    return {"mode": case.mode, "subscribers": n, "messages": messages, "deliveries": messages * per_message,
            "latency_run": {"messages": lat_messages, "offered_deliveries_per_second": LATENCY_RATE,
                            "interval_seconds": interval, "batch": batch},
            "competitors": competitors}


class BroadcastScenario:
    name = "broadcast"
    description = ("WebSocket subscribers of one stream: broadcast to 50 and 500, round-robin to 50; deliveries/s "
                   "and p50/p99 latency measured by one raw-socket client harness")
    baseline = BASELINE
    competitors = SERVERS

    def run(self, quick: bool, deliveries: int | None, repeat: int, log: Any = None,
            subscribers: int | None = None, cases: tuple[Case, ...] = CASES,
            servers: tuple[Server, ...] = SERVERS) -> dict[str, Any]:
        deliveries = deliveries or (QUICK_DELIVERIES if quick else FULL_DELIVERIES)
        repeat = min(repeat, QUICK_REPEAT if quick else MAX_REPEAT)
        if log:
            log(f"broadcast: {deliveries} deliveries per run, {repeat} repeat(s)")
        return {
            "description": self.description,
            "baseline": BASELINE,
            "bound": BOUND,
            "settings": {"deliveries": deliveries, "repeat": repeat, "latency_rate": LATENCY_RATE},
            "ratio_meaning": "competitor deliveries/s divided by the baseline's (Starlette hub) median; "
                             "ratio_vs_bound: divided by the transport bound's median",
            "cases": {c.name: run_case(c, servers, deliveries, repeat, subscribers, log) for c in cases},
        }


SCENARIO = BroadcastScenario()
