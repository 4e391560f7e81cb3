"""What the scenario smoke tests share: one scenario run in a fresh process, and a report around its result
for the renderers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
STATS = {"min", "median", "max"}


def run_scenario(name: str, arguments: str, **env: str) -> dict[str, Any]:
    """`benchmarks.NAME.SCENARIO.run(ARGUMENTS)` in its own process (the harness, not this test run, picks each
    competitor's mode); its result."""
    script = f"import json\nfrom benchmarks.{name} import SCENARIO\nprint(json.dumps(SCENARIO.run({arguments})))\n"
    environ = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    environ.pop("ASYNCGATE_NO_EXTENSIONS", None)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report_of(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """A results file's content holding only RESULT as scenario NAME."""
    return {"date": "2026-01-01", "settings": {}, "seconds": 1, "scenarios": {name: result},
            "machine": {"cpu_model": "cpu", "cores": 2, "usable_cores": 2, "memory_bytes": 2**30,
                        "platform": "linux", "python": "3.11", "packages": {}}}
