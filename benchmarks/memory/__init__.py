"""Scenario 6, memory: what an idle WebSocket subscriber costs the server, and whether a stream's memory
grows with the messages it passes.

1. Idle subscribers, at 1k and 10k connections. Each competitor is a server in its own process, started
   fresh for every measurement:
   - `starlette_hub` (the baseline): the hand-written Starlette hub of the broadcast scenario (an
     asyncio.Queue and a sender task per client; Hypercorn on uvloop);
   - `asyncgate`: `asyncgate serve` with a stream into an `http_server` output's WebSocket path, default
     settings (asyncgate.py).
   The client harness of the broadcast scenario (raw sockets on uvloop, one process) first opens and
   closes WARMUP_CONNECTIONS (so that code loaded and buffers allocated once are not counted), then the
   server's RSS is read from /proc/<pid>/status; then it opens N subscriptions, waits SETTLE_SECONDS and
   reads it again. KiB per subscriber = (after − before) / N; the issue's target ≤ 30 KiB. RLIMIT_NOFILE
   is raised for the servers and the client (inherited from this process).
2. RSS growth per 1M messages, in its own process (compiled extensions, and without them): a file → drop
   stream over the data set once (the warm-up), RSS read; the same stream over it PASSES − 1 more times,
   RSS read again (stream_growth.py). A stream that keeps nothing per message grows by about 0 KiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .. import data, harness
from ..harness import spread
from ..process import ROOT, ServerProcess, bench_env, raise_open_files

BASELINE = "starlette_hub"
SUBSCRIBERS = (1_000, 10_000)
WARMUP_CONNECTIONS = 50
SETTLE_SECONDS = 0.5
TARGET_KIB = 30
QUICK_PASSES = 3  # passes over the 1M-line file (the first one is the warm-up)
FULL_PASSES = 5
MAX_REPEAT = 3  # RSS differences of whole processes barely vary between repeats
CLIENT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Server:
    name: str
    module: str
    args: tuple[str, ...]
    ws_path: str
    description: str
    ready_path: str | None = None


SERVERS = (
    Server(BASELINE, "benchmarks.broadcast.starlette_hub", ("--mode", "broadcast"), "/ws",
           "hand-written Starlette hub (broadcast scenario): an asyncio.Queue and a sender task per client, "
           "Hypercorn on uvloop"),
    Server("asyncgate", "benchmarks.memory.asyncgate", (), "/idle/ws",
           "asyncgate serve: inproc → http_server output (ws_path, default settings), Hypercorn on uvloop",
           ready_path="/readyz"),
)

GROWTH = (
    harness.Competitor("asyncgate", "benchmarks.memory.stream_growth",
                       "stream: file input (lines) → drop output, compiled extensions"),
    harness.Competitor("asyncgate_no_extensions", "benchmarks.memory.stream_growth",
                       "the same with ASYNCGATE_NO_EXTENSIONS=1 (pure-Python twins)",
                       {"ASYNCGATE_NO_EXTENSIONS": "1"}),
)


class Subscribers:
    """N idle WebSocket subscriptions held open by the broadcast client harness in its own process."""

    def __init__(self, server: ServerProcess, path: str, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.broadcast.client", "--port", str(server.port), "--path", path,
             "--connections", str(n)], cwd=ROOT, env=bench_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "connected":
            self.close()
            raise RuntimeError(f"{n} subscribers to {path} did not connect: {line or self.stderr()}\n"
                               f"server: {server.errors()}")

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""

    def close(self) -> dict[str, Any] | None:
        """Drop the connections; the client's report (connections, close codes seen)."""
        report = None
        if self.proc.poll() is None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write("report\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if line.startswith("{"):
                    report = json.loads(line)
                    break
            try:
                self.proc.wait(CLIENT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return report


def idle_subscribers(server: Server, n: int) -> dict[str, Any]:
    """One fresh server: its RSS before and after N idle subscribers connected."""
    with ServerProcess(server.module, list(server.args), ready_path=server.ready_path) as running:
        Subscribers(running, server.ws_path, WARMUP_CONNECTIONS).close()
        time.sleep(SETTLE_SECONDS)
        before = running.rss_kib()
        started = time.perf_counter()
        subscribers = Subscribers(running, server.ws_path, n)
        connect_seconds = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        after = running.rss_kib()
        report = subscribers.close()
        if running.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {n} subscribers:\n{running.errors()}")
    if report is None or report["connections"] != n or report["closes"]:
        raise RuntimeError(f"{server.name}: the client's report of {n} subscribers: {report}")
    return {"rss_before_kib": before, "rss_after_kib": after, "kib_per_subscriber": (after - before) / n,
            "connect_seconds": connect_seconds}


def run_subscribers(counts: tuple[int, ...], repeat: int, servers: tuple[Server, ...], log: Any
                    ) -> dict[str, Any]:
    limit = raise_open_files(max(counts) + 1024)
    if limit < max(counts) + 64:
        raise SystemExit(f"memory: {max(counts)} connections need more open files than RLIMIT_NOFILE allows "
                         f"({limit}); raise the hard limit (ulimit -Hn)")
    cases: dict[str, Any] = {}
    for n in counts:
        raw: dict[str, list[dict[str, Any]]] = {}
        for server in servers:
            if log:
                log(f"  memory/idle_{n}/{server.name} ...")
            raw[server.name] = [idle_subscribers(server, n) for _ in range(repeat)]
        base = spread([r["kib_per_subscriber"] for r in raw[BASELINE]])["median"] if BASELINE in raw else None
        competitors: dict[str, Any] = {}
        for server in servers:
            runs = raw[server.name]
            per = [r["kib_per_subscriber"] for r in runs]
            entry: dict[str, Any] = {
                "description": server.description,
                "kib_per_subscriber": spread(per),
                "rss_before_kib": spread([r["rss_before_kib"] for r in runs]),
                "rss_after_kib": spread([r["rss_after_kib"] for r in runs]),
                "connect_seconds": spread([r["connect_seconds"] for r in runs]),
                "repeats": runs,
            }
            if base:
                entry["ratio"] = spread([p / base for p in per])
            competitors[server.name] = entry
        cases[str(n)] = {"subscribers": n, "competitors": competitors}
    return cases


def run_growth(lines: int, passes: int, repeat: int, log: Any) -> dict[str, Any]:
    path = data.json_lines(lines)
    competitors: dict[str, Any] = {}
    for competitor in GROWTH:
        if log:
            log(f"  memory/stream_growth/{competitor.name} ...")
        runs = []
        for _ in range(repeat):
            proc = subprocess.run([sys.executable, "-m", competitor.module, "--data", str(path), "--passes",
                                   str(passes)], cwd=ROOT, env=bench_env(**competitor.env),
                                  capture_output=True, text=True, timeout=harness.COMPETITOR_TIMEOUT, check=False)
            out = [line for line in proc.stdout.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not out:
                raise RuntimeError(f"{competitor.module} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
            run = json.loads(out[-1])
            if run["messages"] != lines * passes:
                raise RuntimeError(f"memory/{competitor.name}: {run['messages']} messages, not {lines * passes}")
            runs.append(run)
        competitors[competitor.name] = {
            "description": competitor.description,
            "env": competitor.env,
            "kib_per_million": spread([r["kib_per_million"] for r in runs]),
            "rss_warm_kib": spread([r["rss_warm_kib"] for r in runs]),
            "rss_end_kib": spread([r["rss_end_kib"] for r in runs]),
            "rss_peak_kib": spread([r["rss_peak_kib"] for r in runs]),
            "messages_per_second": spread([r["measured_messages"] / r["seconds"] for r in runs]),
            "repeats": runs,
        }
    return {"messages": lines * passes, "warmup_messages": lines, "competitors": competitors}


class MemoryScenario:
    name = "memory"
    description = ("RSS per idle WebSocket subscriber at 1k and 10k connections against the hand-written Starlette "
                   "hub, and RSS growth per 1M messages passed through a stream (file → drop)")
    baseline = BASELINE
    competitors = SERVERS

    def run(self, quick: bool, lines: int | None, repeat: int, log: Any = None,
            subscribers: tuple[int, ...] = SUBSCRIBERS, servers: tuple[Server, ...] = SERVERS) -> dict[str, Any]:
        """LINES: the data set of the growth runs (default the full 1M lines, read PASSES times). Repeats: one
        with --quick, at most MAX_REPEAT otherwise."""
        lines = lines or harness.FULL_LINES
        passes = QUICK_PASSES if quick else FULL_PASSES
        repeat = 1 if quick else min(repeat, MAX_REPEAT)
        if log:
            log(f"{self.name}: {', '.join(map(str, subscribers))} idle subscribers; {lines * passes} messages "
                f"for the growth; {repeat} repeat(s)")
        return {
            "kind": "memory",
            "description": self.description,
            "baseline": BASELINE,
            "target_kib_per_subscriber": TARGET_KIB,
            "settings": {"subscribers": list(subscribers), "repeat": repeat,
                         "warmup_connections": WARMUP_CONNECTIONS, "settle_seconds": SETTLE_SECONDS,
                         "growth_messages": lines * passes, "growth_warmup_messages": lines},
            "ratio_meaning": "competitor KiB per idle subscriber divided by the baseline's (Starlette hub) median "
                             "(< 1: less memory)",
            "idle_subscribers": run_subscribers(subscribers, repeat, servers, log),
            "stream_growth": run_growth(lines, passes, repeat, log),
        }


SCENARIO = MemoryScenario()
