"""The README's tour, run as a new user would run it (from the repository root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def asyncgate(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "engine", *args], input=stdin, capture_output=True, cwd=ROOT,
                          timeout=60, env={**os.environ, **(env or {})})


def test_stdin_to_stdout() -> None:
    result = asyncgate("run", "examples/stdin_to_stdout.yaml", stdin=b"hello\nworld\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"HELLO\nWORLD\n"


def test_readings_with_dead_letters(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    result = asyncgate("run", "examples/readings.yaml", env={"DEAD_LETTER_FILE": str(dead)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines == [
        # 71.5 * 1.8 + 32 in binary floating point, printed in full as Bento prints it
        '{"device":"boiler-1","fahrenheit":160.70000000000002,"hot":true}',
        '{"device":"boiler-2","fahrenheit":154.4,"hot":true}',
        '{"device":"fridge-7","fahrenheit":38.3,"hot":false}',
    ]
    assert dead.read_text() == "not json at all\n"


def test_fan_out() -> None:
    copy = Path("/tmp/asyncgate-copy.txt")
    copy.unlink(missing_ok=True)
    result = asyncgate("run", "examples/fan_out.yaml", stdin=b"a\nb\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a\nb\n"
    assert copy.read_text() == "a\nb\n"


def test_blobl_one_liner() -> None:
    result = asyncgate("blobl", "root.f = this.temp * 1.8 + 32", stdin=b'{"temp": 21.5}\n')
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'{"f":70.7}\n'


def test_lint_output_is_what_the_readme_shows() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"\$ asyncgate lint examples/broken.yaml\n(.*?)```", readme, re.S)
    assert shown, "the README lint example moved"
    result = asyncgate("lint", "examples/broken.yaml")
    assert result.returncode == 1
    assert result.stderr.decode() == shown.group(1)


def test_demo_config_is_valid() -> None:
    result = asyncgate("lint", "engine/demo/demo.yaml")
    assert result.returncode == 0, result.stdout
