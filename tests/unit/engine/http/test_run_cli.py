"""`asyncgate run` serving http_server endpoints on http.address, as a user runs it (a subprocess)."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

CONFIG = """\
http:
  address: 127.0.0.1:0
  root_path: /api
input:
  http_server:
    path: /publish
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  http_server:
    ws_path: /subscribe
"""

LISTENING = re.compile(rb"serving http_server endpoints on http://(127\.0\.0\.1:\d+)")


async def _start(config: Path) -> tuple[asyncio.subprocess.Process, str, list[bytes]]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "engine", "run", str(config),
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    lines: list[bytes] = []
    while True:
        line = await asyncio.wait_for(proc.stderr.readline(), 15)
        assert line, b"".join(lines).decode()
        lines.append(line)
        found = LISTENING.search(line)
        if found:
            return proc, found.group(1).decode(), lines


def test_run_serves_http_server_endpoints_and_exits_zero_on_sigterm(run, tmp_path: Path) -> None:
    config = tmp_path / "stream.yaml"
    config.write_text(CONFIG)

    async def main() -> None:
        proc, address, _ = await _start(config)
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                async with connect(f"ws://{address}/api/subscribe") as ws:
                    # The WebSocket subscribed before the POST, so it gets the message.
                    assert (await client.get(f"http://{address}/ready")).text == "OK"
                    response = await client.post(f"http://{address}/api/publish", content=b"hello")
                    assert response.status_code == 200
                    assert await asyncio.wait_for(ws.recv(), 5) == b"HELLO"
                    # Also served at the root, as Bento does with root_path.
                    assert (await client.get(f"http://{address}/ping")).text == "pong"
                    assert (await client.get(f"http://{address}/api/ping")).text == "pong"
                    proc.send_signal(signal.SIGTERM)
                    closing = await asyncio.wait_for(ws.wait_closed(), 10)
                    assert closing is None and ws.close_code == 1001
            _, err = await asyncio.wait_for(proc.communicate(), 20)
            assert proc.returncode == 0, err.decode()
            assert b"Traceback" not in err, err.decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    run(main(), timeout=60)


def test_http_disabled_while_components_need_it_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "stream.yaml"
    config.write_text("http:\n  enabled: false\ninput:\n  http_server: {}\noutput:\n  drop: {}\n")
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(config)], capture_output=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert b"http.enabled is false" in proc.stderr and b"input http_server" in proc.stderr


def test_a_taken_port_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "stream.yaml"
        config.write_text(f"http:\n  address: 127.0.0.1:{port}\ninput:\n  http_server: {{}}\noutput:\n  drop: {{}}\n")
        proc = subprocess.run([sys.executable, "-m", "engine", "run", str(config)], capture_output=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert b"cannot listen" in proc.stderr


def test_without_http_components_nothing_is_served(tmp_path: Path) -> None:
    with socket.socket() as taken:  # serving would fail on this port: success shows nothing was bound
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "stream.yaml"
        config.write_text(f"http:\n  address: 127.0.0.1:{port}\ninput:\n  stdin: {{}}\noutput:\n  stdout: {{}}\n")
        proc = subprocess.run([sys.executable, "-m", "engine", "run", str(config)], input=b"a\n",
                              capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"a\n"
