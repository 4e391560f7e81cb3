"""Scenario 5, POST ingest: HTTP POSTs of one JSON reading (~140 bytes), load from `wrk`.

Competitors, each a server in its own process, one worker, Hypercorn on uvloop:

- `bare_starlette` (the baseline): a Starlette endpoint that reads the body and answers 200 (bare.py);
- `asyncgate`: `asyncgate serve`, an API with API-key authentication (a key created through the
  management API) and a rate limit (the API's and the key's) high enough never to refuse, so the limiter
  counts every request; its stream goes `http_server` input → `drop` (asyncgate.py);
- `asyncgate_open`: the same without authentication and rate limit, to show what those two cost.

Each repeat is one `wrk` run of a fixed length at a fixed connection count (after one short warm-up run
per server). All servers run at once and take their runs in rounds (one each, then again), so that the
machine getting faster or slower weighs on each alike. wrk_report.lua makes wrk print its counts and
latency percentiles as JSON. A run with any error (a non-2xx status included: a refusal by the limiter or
the authentication) fails the scenario.
Reported: requests/s (ratio over the baseline's median; the issue's target ≥ 0.7), p50/p99 latency and
the server's CPU use (cores) during the run. wrk shares the machine's cores with the server (one thread).

wrk is the Debian package `wrk`: when it is missing and we run as root, the scenario installs it with
`apt-get install -y wrk`; otherwise it says how to.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..data import reading
from ..harness import spread
from ..process import ServerProcess, post

CONNECTIONS = 64
THREADS = 1
QUICK_SECONDS = 2.0
FULL_SECONDS = 5.0
WARMUP_SECONDS = 1.0
BASELINE = "bare_starlette"
SCRIPT = Path(__file__).with_name("wrk_report.lua")
INSTALL_HINT = "install it with `sudo apt-get install -y wrk` (Debian/Ubuntu package wrk)"


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    description: str
    ready_path: str | None = None
    keyed: bool = False  # needs an API key created through the management API
    args: tuple[str, ...] = ()


TARGETS = (
    Target(BASELINE, "benchmarks.post_ingest.bare",
           "bare Starlette endpoint: reads the body, answers 200; Hypercorn on uvloop, one worker"),
    Target("asyncgate", "benchmarks.post_ingest.asyncgate",
           "asyncgate serve: API-key auth + rate limit (API and key, never refusing), http_server input → drop; "
           "Hypercorn on uvloop, one worker", ready_path="/readyz", keyed=True),
    Target("asyncgate_open", "benchmarks.post_ingest.asyncgate",
           "the same API without authentication and rate limit (what those two cost)", ready_path="/readyz",
           args=("--open",)),
)


# -- wrk -----------------------------------------------------------------------------------------
def wrk_installable() -> bool:
    """Whether wrk is here or `ensure_wrk` may install it."""
    return shutil.which("wrk") is not None or (os.geteuid() == 0 and shutil.which("apt-get") is not None)


def ensure_wrk(log: Any = None) -> str:
    """The path of wrk, installed with apt-get first when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"the post_ingest scenario needs wrk, which is not installed: {INSTALL_HINT}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    failure = ""
    for update_first in (False, True):  # a fresh machine's package lists may be empty or old
        if update_first:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False, timeout=600)
        if log:
            log("  post_ingest: installing wrk (apt-get install -y wrk)")
        proc = subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True, text=True,
                              check=False, timeout=600)
        found = shutil.which("wrk")
        if proc.returncode == 0 and found:
            return found
        failure = ((proc.stderr.strip() or proc.stdout.strip()).splitlines() or ["no output"])[-1]
    raise SystemExit(f"the post_ingest scenario needs wrk and `apt-get install -y wrk` failed ({failure}): "
                     f"{INSTALL_HINT}")


def run_wrk(wrk: str, url: str, seconds: float, body: bytes, key: str | None) -> dict[str, Any]:
    """One wrk run; its JSON report (wrk_report.lua). Raises on any error, a non-2xx answer included."""
    env = dict(os.environ, BENCH_BODY=body.decode(), BENCH_KEY=key or "")
    cmd = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(SCRIPT), url]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    report: dict[str, Any] = json.loads(lines[-1])
    errors = {k: v for k, v in report["errors"].items() if v}
    if errors or report["requests"] == 0:
        raise RuntimeError(f"wrk against {url}: {report['requests']} requests, errors {errors} "
                           f"(status: non-2xx answers)\n{proc.stdout}")
    return report


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process PID so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_key(server: ServerProcess) -> str:
    from .asyncgate import KEY_BODY, SECRET

    answer = post(f"{server.url}/_admin/keys", orjson.dumps(KEY_BODY),
                  {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"})
    return str(orjson.loads(answer)["key"])


# -- the scenario --------------------------------------------------------------------------------
class PostIngestScenario:
    name = "post_ingest"
    description = ("HTTP POST ingest of one JSON reading per request, load from wrk: asyncgate serve with API-key "
                   "auth and a never-refusing rate limit into a stream → drop, against a bare Starlette endpoint")
    baseline = BASELINE
    competitors = TARGETS

    def run(self, quick: bool, lines: int | None, repeat: int, log: Any = None, seconds: float | None = None,
            targets: tuple[Target, ...] = TARGETS) -> dict[str, Any]:
        """LINES is not used (the load is a duration); SECONDS overrides the length of each wrk run."""
        seconds = seconds or (QUICK_SECONDS if quick else FULL_SECONDS)
        wrk = ensure_wrk(log)
        body = orjson.dumps(reading(random.Random(42), 0))
        if log:
            log(f"{self.name}: wrk {CONNECTIONS} connections, {seconds:g}s x {repeat} per competitor, in rounds")
        raw: dict[str, list[tuple[dict[str, Any], float]]] = {t.name: [] for t in targets}
        # Every server up at once (the idle ones cost nothing), their runs in rounds: a drift of the machine's
        # speed weighs on every competitor alike.
        with contextlib.ExitStack() as servers:
            started = []
            for target in targets:
                server = servers.enter_context(ServerProcess(target.module, list(target.args),
                                                             ready_path=target.ready_path))
                key = create_key(server) if target.keyed else None
                url = f"{server.url}/ingest/publish"
                run_wrk(wrk, url, WARMUP_SECONDS, body, key)
                started.append((target, server, url, key))
            for round_number in range(1, repeat + 1):
                if log:
                    log(f"  {self.name} round {round_number}/{repeat}: {', '.join(t.name for t in targets)}")
                for target, server, url, key in started:
                    cpu = cpu_seconds(server.proc.pid)
                    report = run_wrk(wrk, url, seconds, body, key)
                    raw[target.name].append(
                        (report, (cpu_seconds(server.proc.pid) - cpu) / (report["duration_us"] / 1e6)))

        def rate(report: dict[str, Any]) -> float:
            return float(report["requests"] / (report["duration_us"] / 1e6))

        base = spread([rate(r) for r, _ in raw[BASELINE]])["median"] if BASELINE in raw else None
        competitors: dict[str, Any] = {}
        for target in targets:
            runs = raw[target.name]
            rates = [rate(r) for r, _ in runs]
            entry: dict[str, Any] = {
                "description": target.description,
                "requests_per_second": spread(rates),
                "latency_ms": {q: spread([r["latency_us"][q] / 1e3 for r, _ in runs]) for q in ("p50", "p99")},
                "server_cpu": spread([cpu for _, cpu in runs]),
                "repeats": [{"requests": r["requests"], "seconds": r["duration_us"] / 1e6,
                             "requests_per_second": rate(r), "p50_ms": r["latency_us"]["p50"] / 1e3,
                             "p99_ms": r["latency_us"]["p99"] / 1e3, "server_cpu": cpu} for r, cpu in runs],
            }
            if base:
                entry["ratio"] = spread([r / base for r in rates])
            competitors[target.name] = entry
        return {
            "kind": "http_load",
            "description": self.description,
            "baseline": BASELINE,
            "target_ratio": 0.7,
            "settings": {"tool": "wrk", "connections": CONNECTIONS, "threads": THREADS, "seconds": seconds,
                         "warmup_seconds": WARMUP_SECONDS, "repeat": repeat, "body_bytes": len(body)},
            "ratio_meaning": "competitor requests/s divided by the baseline's (bare Starlette endpoint) median",
            "competitors": competitors,
        }


SCENARIO = PostIngestScenario()
