"""A smoke run of the peers scenario with tiny sizes: every peer that installs here runs both of its
workloads in its own virtualenv and process, and the result has the shape RESULTS.md is rendered from.
Not a measurement.

The full run is skipped unless ASYNCGATE_BENCH_PEERS=1: the first run creates the peers' virtualenvs (pip installs of
Bytewax, Quix Streams and Faust into benchmarks/.peers/), which `make test` must not do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

peers_opt_in = pytest.mark.skipif(os.environ.get("ASYNCGATE_BENCH_PEERS") != "1" or
                                  os.environ.get("ASYNCGATE_NO_EXTENSIONS") == "1",
                                  reason="set ASYNCGATE_BENCH_PEERS=1 to run the peers (creates their virtualenvs)")

ROOT = Path(__file__).resolve().parents[3]
LINES = 2000
STATS = {"min", "median", "max"}

SCRIPT = f"""
import json
from benchmarks.peers import SCENARIO
print(json.dumps(SCENARIO.run(False, {LINES}, 1)))
"""


@peers_opt_in
def test_every_installed_peer_runs_both_workloads_and_reports_ratios(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASYNCGATE_BENCH_DATA=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["messages"] == LINES
    # this machine (Python 3.11, x86_64) installs all three; elsewhere a peer may be "unavailable"
    assert {name: p["status"] for name, p in result["peers"].items()} == {
        "bytewax": "installed", "quixstreams": "installed", "faust": "installed"}
    assert result["peers"]["quixstreams"]["version"] == "3.28.1"
    expected = {"mapping": ("orjson_loop", {"bytewax", "quixstreams"}),
                "kafka": ("raw_consume", {"bytewax", "quixstreams", "faust"})}
    assert set(result["workloads"]) == set(expected)
    for name, workload in result["workloads"].items():
        baseline, peers = expected[name]
        assert workload["baseline"] == baseline
        assert set(workload["competitors"]) == {baseline, "asyncgate"} | peers, workload["not_run"]
        assert workload["competitors"][baseline]["ratio"]["median"] == pytest.approx(1.0)
        assert workload["competitors"]["asyncgate"]["ratio_vs_asyncgate"]["median"] == pytest.approx(1.0)
        for competitor in workload["competitors"].values():
            for key in ("ratio", "ratio_vs_asyncgate", "messages_per_second", "seconds"):
                assert set(competitor[key]) == STATS
                assert 0 < competitor[key]["min"] <= competitor[key]["median"] <= competitor[key]["max"]
    assert set(result["workloads"]["mapping"]["not_run"]) == {"faust"}
    assert result["workloads"]["kafka"]["not_run"] == {}

    from benchmarks.render import markdown

    report = {"date": "2026-01-01", "settings": {}, "seconds": 1, "scenarios": {"peers": result},
              "machine": {"cpu_model": "cpu", "cores": 2, "usable_cores": 2, "memory_bytes": 2**30,
                          "platform": "linux", "python": "3.11", "packages": {}}}
    text = markdown(report, {})
    assert "| kafka | faust |" in text and "| mapping | faust | – | – | Faust has no file source" in text
    assert "| quixstreams | 3.28.1 |" in text


def test_a_peer_that_does_not_install_is_reported_unavailable_with_pips_error(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.peers import venvs

    monkeypatch.setattr(venvs, "ROOT", tmp_path / "peers")
    missing = str(tmp_path / "no-such-peer")  # a requirement pip rejects without asking a registry
    status = venvs.ensure("missing", "no-such-peer", (missing,))
    assert status["status"] == "unavailable"
    assert status["error"].startswith("ERROR") and "no-such-peer" in status["error"], status
    assert not venvs.ready("missing", (missing,))
