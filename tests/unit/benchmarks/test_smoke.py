"""A smoke run of the benchmark suite with tiny sizes: every scenario and competitor runs (each in
its own process) and the results file has the shape issue 7 fixes. Not a measurement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The suite runs each competitor in its own process, in both modes (asyncgate, asyncgate_no_extensions):
# the pure-Python pass of `make test` would only repeat this run.
pytestmark = pytest.mark.skipif(os.environ.get("ASYNCGATE_NO_EXTENSIONS") == "1",
                                reason="the benchmark harness runs both modes itself")

ROOT = Path(__file__).resolve().parents[3]
LINES = 2000
# The scenarios whose size is --lines; post_ingest (a duration) and memory (connection counts) have their own
# smoke tests with tiny sizes.
SIZED_BY_LINES = ("passthrough", "mapping", "broadcast", "kafka")
STATS = {"min", "median", "max"}


def test_suite_runs_and_writes_the_results_file(tmp_path: Path) -> None:
    # the peers scenario creates its frameworks' virtualenvs: test_peers_smoke.py, opt-in
    env = dict(os.environ, ASYNCGATE_BENCH_DATA=str(tmp_path / "data"), ASYNCGATE_BENCH_PEERS="0")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--lines", str(LINES), "--repeat", "1", "--output", str(tmp_path),
         "--only", ",".join(SIZED_BY_LINES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].stem == json.loads(files[0].read_text())["date"]
    report = json.loads(files[0].read_text())
    assert f"results: {files[0]}" in proc.stdout

    m = report["machine"]
    assert m["cores"] >= 1 and m["memory_bytes"] > 0 and m["cpu_model"] and m["python"]
    assert {"asyncgate", "orjson", "msgspec", "uvloop"} <= set(m["packages"])
    assert report["settings"] == {"quick": False, "lines": LINES, "repeat": 1, "only": list(SIZED_BY_LINES)}

    assert set(report["scenarios"]) == set(SIZED_BY_LINES)
    assert all(scenario["seconds"] > 0 for scenario in report["scenarios"].values())
    expected = {"passthrough": {"python_read_loop", "cat", "asyncgate", "asyncgate_no_extensions"},
                "mapping": {"orjson_loop", "asyncgate", "asyncgate_no_extensions"},
                "kafka": {"raw_consume", "asyncgate", "asyncgate_no_extensions"}}
    assert (tmp_path / "RESULTS.md").exists()
    for name, scenario in report["scenarios"].items():
        if name == "broadcast":  # its own shape: test_broadcast_smoke.py
            assert scenario["settings"]["deliveries"] == LINES
            continue
        assert scenario["messages"] == LINES and scenario["data_bytes"] > LINES
        assert set(scenario["competitors"]) == expected[name]
        base = scenario["competitors"][scenario["baseline"]]
        assert base["ratio"]["median"] == pytest.approx(1.0)
        for competitor in scenario["competitors"].values():
            for key in ("ratio", "messages_per_second", "seconds"):
                assert set(competitor[key]) == STATS
                assert 0 < competitor[key]["min"] <= competitor[key]["median"] <= competitor[key]["max"]
            assert len(competitor["repeats"]) == 1
            rate = competitor["messages_per_second"]["median"]
            assert abs(rate * competitor["seconds"]["median"] - LINES) < 1e-6 * LINES
        no_ext = scenario["competitors"]["asyncgate_no_extensions"]
        assert no_ext["env"] == {"ASYNCGATE_NO_EXTENSIONS": "1"} and no_ext["info"]["extensions"] is False


def test_only_runs_one_scenario(tmp_path: Path) -> None:
    env = dict(os.environ, ASYNCGATE_BENCH_DATA=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "mapping", "--lines", "500", "--repeat", "2",
         "--output", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert list(report["scenarios"]) == ["mapping"]
    assert all(len(c["repeats"]) == 2 for c in report["scenarios"]["mapping"]["competitors"].values())
    bad = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nope", "--output", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0 and "unknown scenario nope" in bad.stderr
