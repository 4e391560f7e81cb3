"""A smoke run of the memory scenario with tiny sizes (20 and 60 idle subscribers, 3 × 2000 messages for the
growth): every server and the client run in their own processes, RSS is read, and the result renders. Not a
measurement: no figure is asserted beyond being there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .scenario_run import STATS, report_of, run_scenario

# The competitors run in their own processes, in the mode the scenario picks: the pure-Python pass of
# `make test` would only repeat this run.
pytestmark = pytest.mark.skipif(os.environ.get("ASYNCGATE_NO_EXTENSIONS") == "1",
                                reason="the benchmark harness picks its modes itself")


def test_memory_scenario_measures_every_server_and_the_stream_growth(tmp_path: Path) -> None:
    result = run_scenario("memory", "True, 2000, 1, subscribers=(20, 60)", ASYNCGATE_BENCH_DATA=str(tmp_path))
    assert result["kind"] == "memory" and result["baseline"] == "starlette_hub"
    assert set(result["idle_subscribers"]) == {"20", "60"}
    for n, case in result["idle_subscribers"].items():
        assert case["subscribers"] == int(n)
        assert set(case["competitors"]) == {"starlette_hub", "asyncgate"}
        assert case["competitors"]["starlette_hub"]["ratio"]["median"] == pytest.approx(1.0)
        for comp in case["competitors"].values():
            assert set(comp["kib_per_subscriber"]) == STATS
            (run,) = comp["repeats"]
            assert run["rss_before_kib"] > 10_000 and run["rss_after_kib"] > 10_000  # a Python server's RSS
            assert run["kib_per_subscriber"] == (run["rss_after_kib"] - run["rss_before_kib"]) / int(n)
    growth = result["stream_growth"]
    assert growth["messages"] == 6000 and growth["warmup_messages"] == 2000
    assert set(growth["competitors"]) == {"asyncgate", "asyncgate_no_extensions"}
    for name, comp in growth["competitors"].items():
        (run,) = comp["repeats"]
        assert (run["messages"], run["warm_messages"], run["measured_messages"]) == (6000, 2000, 4000)
        assert run["extensions"] is (name == "asyncgate")
        assert run["kib_per_million"] == pytest.approx((run["rss_end_kib"] - run["rss_warm_kib"]) * 1e6 / 4000)
        assert run["rss_peak_kib"] >= max(run["rss_warm_kib"], run["rss_end_kib"])

    from benchmarks.harness import summary
    from benchmarks.render import chart, markdown

    report = report_of("memory", result)
    text = markdown(report, {})
    assert "| 60 | asyncgate |" in text and "KiB per 1M messages" in text
    assert "memory/idle_60" in summary(report)
    pytest.importorskip("matplotlib")
    assert chart("memory", result, tmp_path / "memory.png") and (tmp_path / "memory.png").stat().st_size > 0
