"""Gateways sharing one Redis (issue 6's acceptance): two `asyncgate serve` processes with the same key salt,
admin secret and storage (ASYNCGATE_STORAGE, a prefix of the test's own). A key created through one is
accepted by the other, its rate limit and quota hold across both, killed Redis connections never wave a
request through, and a gateway whose Redis does not answer refuses requests with 503."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import pytest
import redis
from websockets.exceptions import InvalidStatus

from gateway_adapter import create_app, load_api_text
from tests.unit.gateway.support import served, until, ws_connect
from tests.unit.gateway.test_auth_keys import ADMIN, ORDER, SECRET, dropping_document, new_key, problem
from tests.unit.gateway.test_observability import analytics, metrics, value
from tests.unit.gateway.test_serve_cli import Server, serve

from .conftest import free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def storage_url(redis_address: str) -> Iterator[str]:
    """Redis storage under a prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"asyncgate-test-{uuid.uuid4().hex[:10]}:"
    yield f"redis://{redis_address}/0?prefix={prefix}"
    with redis.Redis.from_url(f"redis://{redis_address}/0") as client:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)


@contextlib.asynccontextmanager
async def gateways(count: int, storage: str, directory: Path) -> AsyncIterator[list[Server]]:
    """COUNT `asyncgate serve` processes on free ports serving the shared example API, on STORAGE."""
    api = directory / "orders.yaml"
    api.write_text(dropping_document())
    env = {"ASYNCGATE_STORAGE": storage, "ASYNCGATE_KEY_SALT": "one salt for every gateway",
           "ASYNCGATE_ADMIN_SECRET": SECRET}
    async with contextlib.AsyncExitStack() as stack:
        servers = await asyncio.gather(*(stack.enter_async_context(serve("--apis", str(api), env=env))
                                         for _ in range(count)))
        yield list(servers)
        for server in servers:  # a clean stop, closing the storage
            assert await server.stop() == 0, server.stderr.decode()
            assert b"Traceback" not in server.stderr


def kill_redis_connections(redis_address: str, servers: list[Server]) -> int:
    """Close the servers' Redis connections from the Redis side (each gateway names them asyncgate-<pid>)."""
    names = {f"asyncgate-{server.process.pid}" for server in servers}
    with redis.Redis.from_url(f"redis://{redis_address}/0") as admin:
        ids = [c["id"] for c in admin.client_list() if c["name"] in names]
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)
    return len(ids)


def test_two_gateways_share_keys_rate_limits_and_quotas(run, tmp_path, redis_address: str,
                                                        storage_url: str) -> None:
    async def main() -> None:
        async with gateways(2, storage_url, tmp_path) as nodes, \
                httpx.AsyncClient(base_url=nodes[0].base, timeout=5) as one, \
                httpx.AsyncClient(base_url=nodes[1].base, timeout=5) as two:
            async def publish(client: httpx.AsyncClient, key: str) -> httpx.Response:
                return await client.post("/orders/publish", json=ORDER, headers={"authorization": key})

            # A key created through node 1 with a rate of 10 per 60 s: 20 requests alternating between the
            # nodes, exactly 10 pass (5 of them through node 2, which never saw the key being created).
            key, session = await new_key(one, rate=10, per=60)
            answers = [await publish((one, two)[n % 2], key) for n in range(20)]
            assert [a.status_code for a in answers] == [200] * 10 + [429] * 10, [a.text for a in answers]
            assert all(55 <= int(a.headers["retry-after"]) <= 60 for a in answers[10:])
            # Each node's /metrics and analytics show its half of that traffic: 5 passed, 5 refused.
            for node in (one, two):
                found = await metrics(node)
                assert value(found, "asyncgate_http_requests_total", api_id="orders-feed", status_code="200") == 5
                assert value(found, "asyncgate_http_rejections_total", api_id="orders-feed",
                             reason="rate_limit") == 5
                records = (await analytics(node, api_id="orders-feed"))["records"]
                assert sorted(r["status"] for r in records) == [200] * 5 + [429] * 5
                assert {r["key_id"] for r in records} == {session["id"]} and key not in str(records)
            assert (await two.get(f"/_admin/keys/{session['id']}", headers=ADMIN)).json()["rate"] == 10

            # A quota of 4, created through node 2, spent alternately.
            quota_key, _ = await new_key(two, quota_max=4, quota_renewal_rate=3600)
            spent = [(await publish((one, two)[n % 2], quota_key)).status_code for n in range(6)]
            assert spent == [200] * 4 + [403] * 2

            # Redis closes every connection of both gateways before each request: each request either
            # passes on a new connection or is refused — never counted nowhere and waved through.
            killed_key, _ = await new_key(one, rate=4, per=60)
            statuses = []
            for n in range(8):
                assert kill_redis_connections(redis_address, nodes) >= 1
                statuses.append((await publish((one, two)[n % 2], killed_key)).status_code)
            assert set(statuses) <= {200, 429, 503} and statuses.count(200) <= 4
            assert statuses == [200] * 4 + [429] * 4  # the gateways reconnect at once

            # Revoked through node 2: node 1 refuses the key at once (nothing cached per node).
            assert (await two.delete(f"/_admin/keys/{session['id']}", headers=ADMIN)).status_code == 204
            problem(await publish(one, key), 401)

    run(main(), timeout=60)


def test_a_gateway_whose_redis_does_not_answer_refuses_requests_with_503(run, tmp_path) -> None:
    async def main() -> None:
        async with gateways(1, f"redis://127.0.0.1:{free_port()}/0", tmp_path) as (node,), \
                httpx.AsyncClient(base_url=node.base, timeout=5) as client:
            for _ in range(3):
                refused = await client.post("/orders/publish", json=ORDER, headers={"authorization": "any-key"})
                assert "storage" in problem(refused, 503)["detail"] and refused.headers["retry-after"] == "1"
            with pytest.raises(InvalidStatus) as upgrade:
                await ws_connect(f"ws://127.0.0.1:{node.port}/orders/subscribe",
                                 additional_headers={"authorization": "any-key"})
            assert upgrade.value.response.status_code == 503
            problem(await client.post("/_admin/keys", json={"alias": "x"}, headers=ADMIN), 503)
        assert node.stderr.count(b"refusing requests until it answers") == 1  # logged once per outage

    run(main(), timeout=30)


def test_with_shared_storage_several_workers_may_change_keys_but_not_apis(run, redis_address: str,
                                                                         storage_url: str) -> None:
    app = create_app(apis=[load_api_text(dropping_document(), "orders.yaml")], admin_secret=SECRET,
                     config={"workers": 2, "storage": storage_url})

    def connections() -> int:
        with redis.Redis.from_url(f"redis://{redis_address}/0") as admin:
            return sum(c["name"] == f"asyncgate-{os.getpid()}" for c in admin.client_list())

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, session = await new_key(client)
            assert (await client.post("/orders/publish", json=ORDER, headers={"authorization": key})).status_code \
                == 200
            assert (await client.delete(f"/_admin/keys/{session['id']}", headers=ADMIN)).status_code == 204
            refused = await client.delete("/_admin/apis/orders-feed", headers=ADMIN)
            assert "worker" in problem(refused, 409)["detail"]
            assert connections() >= 1
        await until(lambda: connections() == 0)  # the gateway closed its storage when it stopped

    run(main(), timeout=20)
