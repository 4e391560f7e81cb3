"""The competitors' server processes: a server is only taken as up once its own process listens on its
port; a port another process took first (between the probe for a free port and the bind) is replaced."""

from __future__ import annotations

import os
import socket

import pytest

from benchmarks import process


def test_a_port_taken_before_the_server_binds_it_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port, process.free_port()])
        monkeypatch.setattr(process, "free_port", lambda: next(ports))
        assert process.listens(os.getpid(), taken_port)
        with process.ServerProcess("benchmarks.post_ingest.bare") as server:
            assert server.port != taken_port
            assert process.listens(server.proc.pid, server.port)
            assert not process.listens(server.proc.pid, taken_port)
            assert process.post(f"{server.url}/ingest/publish", b"{}") == b""
        assert server.proc.returncode is not None


def test_a_server_that_fails_says_why() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)benchmarks\.post_ingest\.bare exited \(2\):.*unrecognized arguments: --nope"):
        process.ServerProcess("benchmarks.post_ingest.bare", ["--nope"])
