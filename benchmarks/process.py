"""What the scenarios with servers share: a competitor's server in its own process, and its memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of a competitor's process: the repository importable, the compiled extensions
    unless the competitor asks otherwise."""
    env = dict(os.environ)
    env.pop("ASYNCGATE_NO_EXTENSIONS", None)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def post(url: str, data: bytes, headers: dict[str, str] | None = None, method: str = "POST") -> bytes:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bytes(resp.read())


def rss_kib(pid: int) -> int:
    """The resident set size of process PID (VmRSS of /proc/PID/status), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"process {pid} has no VmRSS")


def raise_open_files(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit towards WANTED (child processes inherit it); return
    the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def listens(pid: int, port: int) -> bool:
    """Whether process PID holds a TCP socket listening on PORT (so a probe reaches it, not another process
    that took the port)."""
    sockets: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # the process is gone (or going)
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            sockets.add(link[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()  # sl local_address rem_address st ... inode
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in sockets:
                    return True
    return False


class ServerProcess:
    """`python -m MODULE --port P ARGS...`, started and listening (and, with READY_PATH, answering 2xx
    there: the gateway's /readyz once its streams are up)."""

    def __init__(self, module: str, args: list[str] | None = None, ready_path: str | None = None) -> None:
        self.module = module
        # stderr to a file, not a pipe: a server that logs a lot must never block on a full pipe.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        for _ in range(3):  # a free port may be taken by another process before the server binds it
            self.port = free_port()
            self.stderr.seek(0)
            self.stderr.truncate()
            self.proc = subprocess.Popen([sys.executable, "-m", module, "--port", str(self.port), *(args or [])],
                                         cwd=ROOT, env=bench_env(), stdout=subprocess.DEVNULL, stderr=self.stderr)
            if self._wait_listening(ready_path):
                return
        raise RuntimeError(f"{module} could not bind a port:\n{self.errors()}")

    def _wait_listening(self, ready_path: str | None) -> bool:
        """Wait until this process listens on its port (and answers READY_PATH); False when the port was taken."""
        deadline = time.monotonic() + START_TIMEOUT
        while not listens(self.proc.pid, self.port):
            if self.proc.poll() is not None:
                if "address already in use" in self.errors().lower():
                    return False
                raise RuntimeError(f"{self.module} exited ({self.proc.returncode}):\n{self.errors()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.module} did not listen on {self.port}")
            time.sleep(0.05)
        while ready_path:
            try:
                with urllib.request.urlopen(f"{self.url}{ready_path}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.module} never answered {ready_path}") from None
                time.sleep(0.05)
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def errors(self) -> str:
        """What the server wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
