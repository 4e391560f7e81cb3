"""Runs the scenarios: each competitor in its own process, figures as ratios against the baseline."""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import data

SCENARIOS = ("passthrough", "mapping", "broadcast", "kafka", "post_ingest", "memory", "peers")
RESULTS_DIR = Path(__file__).with_name("results")
FULL_LINES = 1_000_000
QUICK_LINES = 100_000
COMPETITOR_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Competitor:
    name: str
    module: str  # run as `python -m MODULE --data FILE --repeat N`
    description: str
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None  # the interpreter (a peer framework's own venv); default: this one


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    baseline: str
    competitors: tuple[Competitor, ...]


def load_scenarios(only: list[str] | None = None) -> list[Scenario]:
    names = list(SCENARIOS)
    if only:
        unknown = [n for n in only if n not in SCENARIOS]
        if unknown:
            raise SystemExit(f"unknown scenario {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")
        names = [n for n in SCENARIOS if n in only]
    return [importlib.import_module(f"benchmarks.{n}").SCENARIO for n in names]


# -- running -------------------------------------------------------------------------------------
def run_competitor(competitor: Competitor, data_path: Path, repeat: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("ASYNCGATE_NO_EXTENSIONS", None)  # each competitor says which implementation it wants
    env.update(competitor.env)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [competitor.python or sys.executable, "-m", competitor.module, "--data", str(data_path),
         "--repeat", str(repeat)],
        env=env, cwd=root, capture_output=True, text=True, timeout=COMPETITOR_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{competitor.module} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{competitor.module} printed no result:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run_interleaved(competitors: tuple[Competitor, ...] | list[Competitor], data_path: Path, repeat: int,
                    log: Any = None, label: str = "", tolerated: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Each competitor REPEAT times, a process per repeat, in rounds (A B C, A B C, ...), so that the machine
    getting slower or faster during the run weighs on every competitor alike rather than on whichever ran its
    repeats last. Returns the raw results (their `seconds` joined) and, for competitors whose failure
    TOLERATED(competitor) accepts, why they failed (they run no further rounds); any other failure raises."""
    raw: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for round_number in range(1, repeat + 1):
        if log:
            log(f"  {label}round {round_number}/{repeat}: {', '.join(c.name for c in competitors)}")
        for competitor in competitors:
            if competitor.name in failed:
                continue
            try:
                result = run_competitor(competitor, data_path, 1)
            except Exception as exc:
                if tolerated is None or not tolerated(competitor):
                    raise
                failed[competitor.name] = str(exc).strip().splitlines()[-1]
                raw.pop(competitor.name, None)
                continue
            if competitor.name in raw:
                result["seconds"] = raw[competitor.name]["seconds"] + result["seconds"]
            raw[competitor.name] = result
    return raw, failed


def run_scenario(scenario: Scenario, lines: int, repeat: int, log: Any = None) -> dict[str, Any]:
    data_path = data.json_lines(lines)
    raw, _ = run_interleaved(scenario.competitors, data_path, repeat, log, f"{scenario.name} ")
    return {
        "description": scenario.description,
        "messages": lines,
        "data_bytes": data_path.stat().st_size,
        "baseline": scenario.baseline,
        "ratio_meaning": "competitor messages/s divided by the baseline's median messages/s (> 1: faster)",
        "competitors": compare(scenario.competitors, raw, scenario.baseline, lines),
    }


def compare(competitors: tuple[Competitor, ...], raw: dict[str, dict[str, Any]], baseline: str,
            lines: int) -> dict[str, Any]:
    """Each competitor's figures from its RAW result (as printed), with ratios against BASELINE."""
    base = raw[baseline]
    base_rate = statistics.median(base["messages"] / s for s in base["seconds"])
    results: dict[str, Any] = {}
    for competitor in competitors:
        result = dict(raw[competitor.name])
        seconds = result.pop("seconds")
        messages = result.pop("messages")
        if messages != lines:
            raise RuntimeError(f"{competitor.name} handled {messages} messages, not {lines}")
        rates = [messages / s for s in seconds]
        results[competitor.name] = {
            "description": competitor.description,
            "env": competitor.env,
            "ratio": spread([r / base_rate for r in rates]),
            "messages_per_second": spread(rates),
            "seconds": spread(seconds),
            "repeats": seconds,
            **({"info": result} if result else {}),
        }
    return results


# -- the machine ---------------------------------------------------------------------------------
def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.split(":")[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        from engine import _fast

        compiled = _fast.COMPILED
    except ImportError:
        compiled = None
    return {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": int(mem_kb.split()[0]) * 1024 if mem_kb else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in ("asyncgate", "orjson", "msgspec", "uvloop", "Cython")},
        "extensions_built": compiled,
    }


# -- the whole run -------------------------------------------------------------------------------
def run(only: list[str] | None, quick: bool, lines: int | None, repeat: int | None,
        output: Path | None, log: Any = print) -> tuple[Path, dict[str, Any]]:
    scenarios = load_scenarios(only)
    given_lines = lines
    lines = lines or (QUICK_LINES if quick else FULL_LINES)
    repeat = repeat or (3 if quick else 5)
    started = _dt.datetime.now(_dt.UTC)
    report: dict[str, Any] = {
        "date": started.date().isoformat(),
        "started": started.isoformat(timespec="seconds"),
        "settings": {"quick": quick, "lines": lines, "repeat": repeat, "only": only or None},
        "machine": machine(),
        "scenarios": {},
    }
    for scenario in scenarios:
        began = time.perf_counter()
        if hasattr(scenario, "run"):  # a scenario with its own runner (broadcast: servers and a client harness)
            result = scenario.run(quick, given_lines, repeat, log)
        else:
            log(f"{scenario.name}: {lines} lines, {repeat} repeat(s)")
            result = run_scenario(scenario, lines, repeat, log)
        result["seconds"] = round(time.perf_counter() - began, 3)  # the scenario's wall time
        log(f"  {scenario.name} took {result['seconds']:.1f} s")
        report["scenarios"][scenario.name] = result
    report["seconds"] = round((_dt.datetime.now(_dt.UTC) - started).total_seconds(), 3)
    out_dir = output or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{report['date']}.json"
    if only and path.exists():  # --only: keep the other scenarios of today's file
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = {}
        kept = {k: v for k, v in previous.get("scenarios", {}).items() if k not in report["scenarios"]}
        report["scenarios"] = {**kept, **report["scenarios"]}
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path, report


def summary(report: dict[str, Any]) -> str:
    rows = []
    for name, scenario in report["scenarios"].items():
        if "skipped" in scenario:
            rows.append(f"{name}: skipped ({scenario['skipped']})")
            continue
        if "workloads" in scenario:
            for wname, workload in scenario["workloads"].items():
                rows.append(f"{name}/{wname} ({scenario['messages']} messages, baseline {workload['baseline']}):")
                for comp, c in workload["competitors"].items():
                    rows.append(f"  {comp:<26} {c['ratio']['median']:6.2f}x  "
                                f"{c['ratio_vs_asyncgate']['median']:6.2f}x asyncgate"
                                f"  {c['messages_per_second']['median']:>12,.0f} msg/s")
                rows += [f"  {comp:<26} {why}" for comp, why in workload["not_run"].items()]
            continue
        if scenario.get("kind") == "http_load":
            rows.append(f"{name} (wrk, {scenario['settings']['connections']} connections, "
                        f"baseline {scenario['baseline']}):")
            for comp, c in scenario["competitors"].items():
                rows.append(f"  {comp:<26} {c['ratio']['median']:6.2f}x  {c['requests_per_second']['median']:>12,.0f}"
                            f" requests/s  p99 {c['latency_ms']['p99']['median']:.2f} ms")
            continue
        if scenario.get("kind") == "memory":
            for n, case in scenario["idle_subscribers"].items():
                rows.append(f"{name}/idle_{n} (RSS per idle WebSocket subscriber, baseline {scenario['baseline']}):")
                for comp, c in case["competitors"].items():
                    rows.append(f"  {comp:<26} {c['ratio']['median']:6.2f}x  {c['kib_per_subscriber']['median']:8.1f}"
                                " KiB per subscriber")
            growth = scenario["stream_growth"]
            rows.append(f"{name}/stream_growth ({growth['messages']} messages, after {growth['warmup_messages']}):")
            for comp, c in growth["competitors"].items():
                rows.append(f"  {comp:<26} {c['kib_per_million']['median']:+8.0f} KiB RSS per 1M messages")
            continue
        if "cases" in scenario:
            for cname, case in scenario["cases"].items():
                rows.append(f"{name}/{cname} ({case['deliveries']} deliveries, baseline {scenario['baseline']}):")
                for comp, c in case["competitors"].items():
                    r, d = c.get("ratio", {"median": 0.0}), c["deliveries_per_second"]
                    rows.append(f"  {comp:<26} {r['median']:6.2f}x  {d['median']:>12,.0f} deliveries/s"
                                f"  p99 {c['latency_ms']['p99']['median']:.2f} ms")
            continue
        rows.append(f"{name} ({scenario['messages']} messages, baseline {scenario['baseline']}):")
        for cname, c in scenario["competitors"].items():
            r, m = c["ratio"], c["messages_per_second"]
            rows.append(f"  {cname:<26} {r['median']:6.2f}x  (min {r['min']:.2f}, max {r['max']:.2f})"
                        f"  {m['median']:>12,.0f} msg/s")
    return "\n".join(rows)
