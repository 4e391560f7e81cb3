"""RESULTS.md links its charts relative to itself, however the results file's path was given."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def _report() -> dict[str, object]:
    spread = {"min": 1.0, "median": 1.0, "max": 1.0}
    return {"date": "2026-01-02", "settings": {}, "seconds": 1.0,
            "machine": {"cpu_model": "cpu", "cores": 2, "platform": "linux", "python": "3.11"},
            "scenarios": {"passthrough": {
                "description": "d", "messages": 10, "baseline": "a",
                "competitors": {"a": {"description": "a", "ratio": spread, "messages_per_second": spread}}}}}


def test_chart_links_are_relative_to_results_md(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.render import render

    (tmp_path / "results").mkdir()
    results = tmp_path / "results" / "2026-01-02.json"
    results.write_text(json.dumps(_report()))
    monkeypatch.chdir(tmp_path.parent)  # the path as given names the folder RESULTS.md is in
    target = render(Path(os.path.relpath(results)), tmp_path.resolve())  # a relative path, an absolute out
    text = target.read_text()
    assert "![passthrough](results/2026-01-02-passthrough.png)" in text
    assert (tmp_path / "results" / "2026-01-02-passthrough.png").stat().st_size > 0
