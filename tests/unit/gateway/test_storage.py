"""The memory storage against the storage contract (storage_contract.py), and failing closed: a gateway whose
storage does not answer refuses every request that needs it (503, WebSocket 1013), logging the outage once."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from typing import Any, AsyncIterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from gateway_adapter import create_app, load_api_text
from gateway_adapter.config import GatewayConfig
from gateway_adapter.gateway import Gateway
from gateway_adapter.limits import MemoryLimiter
from gateway_adapter.storage import NAMESPACES, MemoryRecords, Storage, open_storage

from .storage_contract import *  # noqa: F403 (the contract's tests, run here on memory)
from .support import PYTHON, ROOT, free_port, served, ws_connect
from .test_auth_keys import ADMIN, ORDER, SECRET, dropping_document, problem


@pytest.fixture
def open_storage_with() -> Any:
    @contextlib.asynccontextmanager
    async def opened(clock: Any = None) -> AsyncIterator[Storage]:
        storage = Storage("memory", {name: MemoryRecords() for name in NAMESPACES},
                          MemoryLimiter(clock or time.monotonic))
        yield storage
        await storage.close()

    return opened


def test_storage_urls_from_the_config_or_the_environment_and_in_serve_help(monkeypatch) -> None:
    assert not open_storage("").shared and open_storage("memory").url == "memory"
    with pytest.raises(ValueError, match="not a storage URL"):
        open_storage("postgres://db")
    monkeypatch.setenv("ASYNCGATE_STORAGE", "redis://127.0.0.1:1/0")
    assert Gateway(GatewayConfig()).storage.shared
    assert not Gateway(GatewayConfig(storage="memory")).storage.shared  # the config wins
    usage = subprocess.run([PYTHON, "-m", "engine", "serve", "--help"], capture_output=True, text=True, cwd=ROOT,
                           timeout=30).stdout
    assert "ASYNCGATE_STORAGE=redis://" in usage and "ASYNCGATE_KEY_SALT" in usage


def unreachable_app() -> Any:
    """The shared example (a key in the Authorization header) on Redis storage at a port nothing listens on."""
    return create_app(apis=[load_api_text(dropping_document(), "orders.yaml")], admin_secret=SECRET,
                      config={"storage": f"redis://127.0.0.1:{free_port()}/0"})


def test_requests_are_refused_with_503_while_the_storage_does_not_answer(run, caplog) -> None:
    caplog.set_level(logging.INFO)
    app = unreachable_app()

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            for _ in range(3):
                refused = await client.post("/orders/publish", json=ORDER, headers={"authorization": "some-key"})
                body = problem(refused, 503)
                assert "storage" in body["detail"] and refused.headers["retry-after"] == "1"
                assert "some-key" not in refused.text and "127.0.0.1" not in refused.text
            # No credentials at all: refused by authentication, which needs no storage.
            problem(await client.post("/orders/publish", json=ORDER), 401)
            with pytest.raises(InvalidStatus) as upgrade:
                await ws_connect(f"ws://{host}/orders/subscribe", additional_headers={"authorization": "some-key"})
            assert upgrade.value.response.status_code == 503
            # The management API's key endpoints answer 503 too; the APIs' endpoints do not need the storage.
            for method, path, body in (("POST", "/_admin/keys", {"alias": "x"}), ("GET", "/_admin/keys", None),
                                       ("DELETE", "/_admin/keys/abc", None)):
                answer = await client.request(method, path, json=body, headers=ADMIN)
                assert problem(answer, 503)["detail"].startswith("the gateway cannot check")
                assert answer.headers["retry-after"] == "1"
            assert (await client.get("/_admin/apis", headers=ADMIN)).status_code == 200

    run(main(), timeout=20)
    failures = [r for r in caplog.records if r.name == "asyncgate.storage"]
    assert len(failures) == 1 and failures[0].levelno == logging.WARNING  # once per outage, not per request
    assert "Traceback" not in caplog.text


def test_without_the_denial_extension_a_websocket_is_closed_with_1013(run) -> None:
    """Servers that cannot send a denial response: the handshake is refused with close code 1013."""
    gateway = unreachable_app().state.gateway
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async def main() -> None:
        scope = {"type": "websocket", "path": "/orders/subscribe", "headers": [(b"authorization", b"some-key")],
                 "query_string": b"", "extensions": {}}
        await gateway.apis["orders-feed"].handle(scope, receive, send, "/subscribe", "/orders/subscribe", "")
        await gateway.stop()

    run(main())
    (closed,) = sent
    assert (closed["type"], closed["code"]) == ("websocket.close", 1013) and "storage" in closed["reason"]
