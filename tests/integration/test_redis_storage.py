"""Redis storage (gateway_adapter/storage/redis.py) against the local Redis: the storage contract (the same
test bodies as the memory storage), then what only Redis has: two connections sharing records and counters,
expiry, the key prefix and URL settings, failing closed and a killed connection.

Each test works under a prefix of its own and deletes its keys afterwards. Redis is never restarted here
(other tests use it): connection loss is made by killing this test's own connections (CLIENT KILL ID)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, AsyncIterator, Iterator

import pytest
import redis
from redis.asyncio.connection import SSLConnection

from gateway_adapter.keys import KeyHasher, KeyStore
from gateway_adapter.limits import Limit
from gateway_adapter.storage import NAMESPACES, Storage, StorageError, open_storage
from gateway_adapter.storage.redis import DEFAULT_PREFIX, open_redis_storage
from tests.unit.gateway.storage_contract import *  # noqa: F403 (the contract's tests, run here on Redis)

from .conftest import free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix(redis_address: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"asyncgate-test-{uuid.uuid4().hex[:10]}:"
    yield name
    with redis.Redis.from_url(f"redis://{redis_address}/0") as client:
        keys = list(client.scan_iter(match=name + "*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def storage_url(redis_address: str, prefix: str) -> str:
    return f"redis://{redis_address}/0?prefix={prefix}"


@pytest.fixture
def open_storage_with(storage_url: str) -> Any:
    @contextlib.asynccontextmanager
    async def opened(clock: Any = None) -> AsyncIterator[Storage]:
        storage = open_redis_storage(storage_url, NAMESPACES, clock=clock)
        try:
            yield storage
        finally:
            await storage.close()

    return opened


def test_two_connections_share_records_and_limits(run, storage_url: str) -> None:
    """As two gateway processes would: a key created through one is found through the other, and a limit
    of 10 holds across both (the server's clock, check-and-log atomic)."""
    ten = [Limit("key:shared", 10, 60.0)]

    async def main() -> None:
        one, two = open_storage(storage_url), open_storage(storage_url)
        try:
            salt = KeyHasher("the same salt on every gateway")
            key, session = await KeyStore(one.records("keys"), salt).create({"alias": "both"})
            assert (await KeyStore(two.records("keys"), salt).lookup(key)) == session
            assert await KeyStore(two.records("keys"), KeyHasher("another salt")).lookup(key) is None
            verdicts = await asyncio.gather(*((one if n % 2 else two).limiter.hit(ten) for n in range(30)))
            assert sum(v.allowed for v in verdicts) == 10
            assert not (await one.limiter.hit(ten)).allowed and not (await two.limiter.hit(ten)).allowed
            quota = [await (one if n % 2 else two).limiter.consume_quota("quota:q", 3, 60) for n in range(5)]
            assert [v.allowed for v in quota] == [True, True, True, False, False]
        finally:
            await one.close()
            await two.close()

    run(main())


def test_counters_expire_with_their_window_and_records_do_not(run, redis_address: str, prefix: str,
                                                              storage_url: str) -> None:
    async def main() -> None:
        storage = open_storage(storage_url)
        try:
            await storage.limiter.hit([Limit("api:e", 5, 2.5)])
            await storage.limiter.consume_quota("quota:renews", 5, 30)
            await storage.limiter.consume_quota("quota:never", 5, -1)
            await storage.records("keys").put("k", {"n": 1}, {"hash": "h"})
        finally:
            await storage.close()

    run(main())
    with redis.Redis.from_url(f"redis://{redis_address}/0") as client:
        assert 2000 < client.pttl(f"{prefix}rate:api:e") <= 2500
        assert 29_000 < client.pttl(f"{prefix}quota:quota:renews") <= 30_000
        assert client.pttl(f"{prefix}quota:quota:never") == -1
        assert client.pttl(f"{prefix}keys") == -1 and client.hget(f"{prefix}keys:index:hash", "h") == b"k"
        assert sorted(k.decode() for k in client.scan_iter(match=prefix + "*")) == sorted(
            f"{prefix}{name}" for name in ("rate:api:e", "quota:quota:renews", "quota:quota:never", "keys",
                                           "keys:indexed", "keys:index:hash"))


def test_the_url_sets_prefix_timeouts_and_tls_and_its_password_is_never_shown() -> None:
    plain = open_storage("redis://:pa55word@127.0.0.1:6379/2")
    assert plain.shared and plain.url == "redis://127.0.0.1:6379/2" and "pa55word" not in repr(plain)
    assert plain.connection.prefix == DEFAULT_PREFIX
    options = plain.connection.client.connection_pool.connection_kwargs
    assert (options["db"], options["socket_connect_timeout"], options["socket_timeout"]) == (2, 1.0, 2.0)
    tuned = open_storage("rediss://user:pw@cache.example:6380/0?prefix=edge:&socket_timeout=0.5")
    assert tuned.connection.prefix == "edge:" and tuned.url == "rediss://cache.example:6380/0"
    pool = tuned.connection.client.connection_pool
    assert pool.connection_class is SSLConnection and pool.connection_kwargs["socket_timeout"] == 0.5


def test_a_storage_nobody_answers_raises_storage_error_and_logs_the_outage_once(run, caplog) -> None:
    caplog.set_level(logging.INFO, logger="asyncgate.storage")

    async def main() -> None:
        storage = open_storage(f"redis://127.0.0.1:{free_port()}/0?prefix=x:")
        try:
            operations = [storage.records("keys").get("a"), storage.records("keys").put("a", {}, {"hash": "h"}),
                          storage.records("keys").find("hash", "h"), storage.limiter.hit([Limit("a", 1, 1)]),
                          storage.limiter.consume_quota("q", 1, 1)]
            for operation in operations:
                with pytest.raises(StorageError, match="failed"):
                    await asyncio.wait_for(operation, 3)  # refused at once, not after a long retry
        finally:
            await storage.close()

    run(main())
    (warning,) = [r for r in caplog.records if r.name == "asyncgate.storage"]
    assert warning.levelno == logging.WARNING and "refusing requests" in warning.getMessage()


def test_a_killed_connection_is_replaced_and_the_recovery_logged_once(run, caplog, redis_address: str,
                                                                      storage_url: str) -> None:
    caplog.set_level(logging.INFO, logger="asyncgate.storage")
    limit = [Limit("key:k", 3, 60.0)]

    async def kill_connections(storage: Storage) -> int:
        name = await storage.connection.client.client_getname()
        with redis.Redis.from_url(f"redis://{redis_address}/0") as admin:
            ids = [c["id"] for c in admin.client_list() if c["name"] == name]
            for client_id in ids:
                admin.client_kill_filter(_id=client_id)
        return len(ids)

    async def main() -> None:
        storage = open_storage(storage_url)
        try:
            assert (await storage.limiter.hit(limit)).allowed
            assert await kill_connections(storage) >= 1
            assert (await storage.limiter.hit(limit)).allowed  # one retry on a fresh connection
            # An outage: the client points nowhere for a while, then at Redis again.
            good = storage.connection.client
            storage.connection.client = type(good).from_url(f"redis://127.0.0.1:{free_port()}/0")
            for _ in range(3):
                with pytest.raises(StorageError):
                    await storage.records("keys").get("a")
            await storage.connection.client.aclose()
            storage.connection.client = good
            assert await storage.records("keys").get("a") is None
            assert (await storage.limiter.hit(limit)).allowed
            assert not (await storage.limiter.hit(limit)).allowed  # the count survived all of it
        finally:
            await storage.close()

    run(main())
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "asyncgate.storage"]
    assert [level for level, _ in logged] == [logging.WARNING, logging.INFO]
    assert "answers again" in logged[1][1]
