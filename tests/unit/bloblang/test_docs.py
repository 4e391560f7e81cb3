"""docs/bloblang.md is generated from the registries; it must match what the generator writes now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.bloblang import FUNCTIONS, METHODS
from engine.bloblang.docs import known_failures, render

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "bloblang.md"
REGENERATE = "regenerate it: python -m engine.bloblang.docs > docs/bloblang.md"


def test_committed_page_matches_the_generator() -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.bloblang.docs"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render()
    assert DOC.read_text() == proc.stdout, f"docs/bloblang.md is stale; {REGENERATE}"


def test_page_lists_every_function_method_and_known_failure() -> None:
    page = render()
    for name in [*FUNCTIONS, *METHODS]:
        assert f"`{name}`" in page, name
    section = page.split("## Not supported", 1)[1]
    cases = known_failures()
    for index, name, _mapping, reason in cases:
        case = f"non-JSON #{index.split(':')[1]}" if index.startswith("non_json:") else f"#{index}"
        assert f"| {case} | `{name}` |" in section
        assert reason in section
