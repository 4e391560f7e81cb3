"""`asyncgate run` as a user runs it: ends when a finite input is drained, drains and exits 0 on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFIG = "input:\n  stdin: {}\noutput:\n  stdout: {}\n"


def _start(tmp_path: Path, config: str = CONFIG) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "stream.yaml"
    cfg.write_text(config)
    return subprocess.Popen([sys.executable, "-m", "engine", "run", str(cfg)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_finite_input_ends_and_exits_zero(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    out, err = proc.communicate(b"one\ntwo\nthree", timeout=20)
    assert proc.returncode == 0, err
    assert out == b"one\ntwo\nthree\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_what_was_read_and_exits_zero(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start(tmp_path)
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"first\nsecond\n")
    proc.stdin.flush()
    # Wait until the stream has delivered both lines, with a deadline.
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    seen = b""
    deadline = time.monotonic() + 15
    while seen.count(b"\n") < 2 and time.monotonic() < deadline:
        chunk = os.read(fd, 4096) if _readable(fd) else b""
        seen += chunk
    assert seen == b"first\nsecond\n"
    proc.send_signal(sig)
    os.set_blocking(fd, True)
    rest, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert rest == b""


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0.05)[0])
