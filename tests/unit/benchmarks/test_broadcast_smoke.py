"""A smoke run of the broadcast scenario with tiny sizes (5 subscribers, 1000 deliveries per run): every
competitor server and the client harness run in their own processes, every delivery arrives, and the
result has the shape RESULTS.md is rendered from. Not a measurement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .scenario_run import STATS, report_of, run_scenario

# The broadcast competitors run in their own processes, in the mode the scenario picks: the pure-Python
# pass of `make test` would only repeat this run.
pytestmark = pytest.mark.skipif(os.environ.get("ASYNCGATE_NO_EXTENSIONS") == "1",
                                reason="the benchmark harness picks its modes itself")


def test_broadcast_scenario_runs_every_competitor_and_reports_ratios(tmp_path: Path) -> None:
    result = run_scenario("broadcast", "False, 1000, 1, subscribers=5")
    assert result["baseline"] == "starlette_hub" and result["bound"] == "transport_bound"
    assert set(result["cases"]) == {"broadcast_50", "broadcast_500", "round_robin_50"}
    for case in result["cases"].values():
        assert case["subscribers"] == 5
        per_message, share = (5, 1.0) if case["mode"] == "broadcast" else (1, 0.4)
        assert case["deliveries"] == case["messages"] * per_message == 1000 * share
        assert set(case["competitors"]) == {"starlette_hub", "asyncgate", "asyncgate_embedded", "transport_bound"}
        assert case["competitors"]["starlette_hub"]["ratio"]["median"] == pytest.approx(1.0)
        assert case["competitors"]["transport_bound"]["ratio_vs_bound"]["median"] == pytest.approx(1.0)
        for comp in case["competitors"].values():
            for key in ("deliveries_per_second", "ratio", "ratio_vs_bound", "client_cpu"):
                assert set(comp[key]) == STATS
                assert 0 < comp[key]["min"] <= comp[key]["median"] <= comp[key]["max"]
            assert comp["latency_ms"]["p50"]["median"] <= comp["latency_ms"]["p99"]["median"]
            assert len(comp["repeats"]) == 1
            if case["mode"] == "broadcast":  # every subscriber got every message
                assert comp["repeats"][0]["per_connection"] == {"min": 200, "max": 200}

    from benchmarks.render import markdown

    text = markdown(report_of("broadcast", result), {})
    assert "| broadcast_500 | asyncgate |" in text and "× hub" in text
