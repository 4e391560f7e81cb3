"""stdin, stdout, file and drop as `asyncgate run` uses them: a real process, real pipes, real files."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("asyncgate")
ASYNCGATE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "engine"]


def _config(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    return cfg


def _pipe(tmp_path: Path, printf: str, config: str) -> subprocess.CompletedProcess[bytes]:
    """`printf PRINTF | asyncgate run cfg.yaml`, through a shell as a user would type it."""
    cfg = _config(tmp_path, config)
    command = f"printf {shlex.quote(printf)} | {shlex.join(ASYNCGATE)} run {shlex.quote(str(cfg))}"
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=30, check=False)


def _run(tmp_path: Path, config: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    cfg = _config(tmp_path, config)
    return subprocess.run([*ASYNCGATE, "run", str(cfg)], input=stdin, capture_output=True, timeout=30, check=False)


STDIN_STDOUT = "input:\n  stdin: {}\noutput:\n  stdout: {}\n"


def test_crlf_empty_lines_and_no_trailing_newline(tmp_path: Path) -> None:
    done = _pipe(tmp_path, r"one\r\ntwo\n\n\nthree\r\n\r\nfour", STDIN_STDOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"one\ntwo\nthree\nfour\n"


def test_empty_stdin_ends_the_stream(tmp_path: Path) -> None:
    done = _pipe(tmp_path, "", STDIN_STDOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""


def test_delim_codec_in_and_out(tmp_path: Path) -> None:
    config = "input:\n  stdin:\n    codec: 'delim:|'\noutput:\n  stdout:\n    codec: 'delim:;'\n"
    done = _pipe(tmp_path, "a|b c||d\n|e", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"a;b c;d\n;e;"


def test_tab_delimiter_escape(tmp_path: Path) -> None:
    config = "input:\n  stdin:\n    codec: 'delim:\\t'\noutput:\n  stdout: {}\n"
    done = _pipe(tmp_path, r"x\ty\t", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"x\ny\n"


def test_all_bytes_reads_stdin_as_one_message(tmp_path: Path) -> None:
    config = "input:\n  stdin:\n    codec: all-bytes\noutput:\n  stdout:\n    codec: 'delim:<END>'\n"
    done = _pipe(tmp_path, r"line 1\nline 2\n\n", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"line 1\nline 2\n\n<END>"


def test_large_stdin_keeps_every_line_in_order(tmp_path: Path) -> None:
    lines = [f"{i:07d}-{'x' * (i % 50)}".encode() for i in range(60_000)]
    done = _run(tmp_path, STDIN_STDOUT, b"\n".join(lines) + b"\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(b"\n")[:-1] == lines


def test_file_to_file_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"a1\na2\n")
    (tmp_path / "in" / "b.txt").write_bytes(b"b1")
    out = tmp_path / "out" / "all.txt"
    config = (f"input:\n  file:\n    paths: [ '{tmp_path}/in/*.txt' ]\n"
              f"output:\n  file:\n    path: '{out}'\n")
    done = _run(tmp_path, config)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == b"a1\na2\nb1\n"


def test_file_to_drop_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a\nb\n")
    done = _run(tmp_path, f"input:\n  file:\n    paths: [ '{tmp_path}/a.txt' ]\noutput:\n  drop: {{}}\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""


@pytest.mark.parametrize("path, problem", [
    ("{tmp}/missing.txt", "does not exist"),
    ("{tmp}/nothing-*.txt", "matches no file"),
    ("{tmp}", "is a directory"),
])
def test_unreadable_file_input_exits_one_naming_the_path(tmp_path: Path, path: str, problem: str) -> None:
    path = path.format(tmp=tmp_path)
    done = _run(tmp_path, f"input:\n  file:\n    paths: [ '{path}' ]\noutput:\n  stdout: {{}}\n")
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "input.file" in err and path in err and problem in err, err
    assert "Traceback" not in err


def test_cron_interval_is_reported_with_the_component_path(tmp_path: Path) -> None:
    config = "input:\n  generate:\n    mapping: 'root = 1'\n    interval: '0 */5 * * * *'\noutput:\n  drop: {}\n"
    done = _run(tmp_path, config)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "input.generate" in err and "cron schedules are not supported" in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_file_exits_one(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"x\n")
    secret.chmod(0)
    done = _run(tmp_path, f"input:\n  file:\n    paths: [ '{secret}' ]\noutput:\n  stdout: {{}}\n")
    assert done.returncode == 1
    assert "permission denied" in done.stderr.decode().lower()
