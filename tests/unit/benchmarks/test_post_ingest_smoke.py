"""A smoke run of the POST ingest scenario with tiny sizes (one 1-second wrk run per competitor): every
server runs in its own process, wrk's report is parsed, every request was answered 2xx (the key was
accepted, the limiter refused nothing), and the result renders. Not a measurement."""

from __future__ import annotations

import os

import pytest

from benchmarks.post_ingest import wrk_installable

from .scenario_run import STATS, report_of, run_scenario

# The competitors run in their own processes, in the mode the scenario picks: the pure-Python pass of
# `make test` would only repeat this run.
pytestmark = [
    pytest.mark.skipif(os.environ.get("ASYNCGATE_NO_EXTENSIONS") == "1",
                       reason="the benchmark harness picks its modes itself"),
    pytest.mark.skipif(not wrk_installable(), reason="wrk is not installed and cannot be (not root): "
                                                     "apt-get install wrk"),
]


def test_post_ingest_runs_every_competitor_through_wrk_and_reports_ratios() -> None:
    result = run_scenario("post_ingest", "False, None, 2, seconds=1")
    assert result["kind"] == "http_load" and result["baseline"] == "bare_starlette"
    assert result["settings"]["seconds"] == 1 and result["settings"]["body_bytes"] > 100
    assert set(result["competitors"]) == {"bare_starlette", "asyncgate", "asyncgate_open"}
    # The median of two ratios is their mean, which floats may round just below 1.
    assert result["competitors"]["bare_starlette"]["ratio"]["median"] == pytest.approx(1.0)
    for comp in result["competitors"].values():
        for key in ("requests_per_second", "ratio", "server_cpu"):
            assert set(comp[key]) == STATS
            assert 0 < comp[key]["min"] <= comp[key]["median"] <= comp[key]["max"]
        assert 0 < comp["latency_ms"]["p50"]["median"] <= comp["latency_ms"]["p99"]["median"]
        assert len(comp["repeats"]) == 2
        for run in comp["repeats"]:
            assert run["requests"] > 0 and abs(run["requests_per_second"] * run["seconds"] - run["requests"]) < 1

    from benchmarks.harness import summary
    from benchmarks.render import NOTES, markdown

    report = report_of("post_ingest", result)
    text = markdown(report, {})
    assert "| asyncgate | " in text and "requests/s" in text and "target ≥ 0.7×" in text
    assert "asyncgate_open" in summary(report)
    assert (NOTES / "post_ingest.md").read_text().strip() in text  # the scenario's notes, under its table


def test_a_refused_request_fails_the_run() -> None:
    """wrk's non-2xx answers are errors: a run against the gateway without its key does not pass for one."""
    from benchmarks.post_ingest import ensure_wrk, run_wrk
    from benchmarks.process import ServerProcess

    wrk = ensure_wrk()
    with (ServerProcess("benchmarks.post_ingest.asyncgate", ready_path="/readyz") as server,
          pytest.raises(RuntimeError, match=r"errors \{'status': \d+\}")):
        run_wrk(wrk, f"{server.url}/ingest/publish", 1, b'{"n": 1}', key=None)
