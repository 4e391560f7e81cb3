"""What every storage implementation must do (storage.Records, limits.Limiter), one test body per behaviour.

A test module imports these tests (`from .storage_contract import *`) and provides the fixture they use,
`open_storage_with`: `open_storage_with(clock=None)` is an async context manager yielding a fresh, empty
Storage whose limiter reads CLOCK (seconds) instead of its own clock. test_storage.py runs them on memory,
tests/integration/test_redis_storage.py on Redis.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway_adapter.keys import KeyStore
from gateway_adapter.limits import Limit
from gateway_adapter.storage import DuplicateIndex

__all__ = [
    "Clock",
    "test_the_sliding_window_is_exact",
    "test_several_limits_are_all_or_nothing_and_retry_after_is_the_longest",
    "test_verdicts_tell_the_tightest_limit_what_is_left_and_when_it_resets",
    "test_concurrent_requests_never_pass_beyond_the_limit",
    "test_quotas_count_up_to_the_maximum_and_renew",
    "test_records_by_id_with_a_unique_index",
    "test_a_duplicate_index_value_changes_nothing",
    "test_records_are_copies_and_namespaces_are_apart",
    "test_a_key_store_on_the_storage",
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sliding_window_is_exact(run, open_storage_with) -> None:
    clock = Clock()
    five = [Limit("api:a", 5, 1.0)]

    async def main() -> None:
        async with open_storage_with(clock) as storage:
            limiter = storage.limiter
            passed = []
            for step in range(8):  # 0.0, 0.1, ... 0.7
                clock.now = 1000.0 + step / 10
                passed.append((await limiter.hit(five)).allowed)
            assert passed == [True] * 5 + [False] * 3
            refused = await limiter.hit(five)
            assert refused.counter == "api:a" and refused.retry_after == pytest.approx(0.3)
            assert refused.retry_after_header == 1
            clock.now = 1000.0 + 0.999
            assert not (await limiter.hit(five)).allowed  # the first request is still in the window
            clock.now = 1001.0  # it has left: exactly one more passes
            assert (await limiter.hit(five)).allowed
            assert not (await limiter.hit(five)).allowed
            clock.now = 1001.1  # the request at 0.1 left
            assert (await limiter.hit(five)).allowed
            assert not (await limiter.hit(five)).allowed
            # In any window of one second, never more than five passed.
            clock.now = 1005.0
            times = []
            for step in range(300):
                clock.now += 0.013
                if (await limiter.hit([Limit("api:b", 5, 1.0)])).allowed:
                    times.append(clock.now)
            assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in zip(times, times[5:]))
            assert len(times) >= 5 * 3

    run(main(), timeout=20)


def test_several_limits_are_all_or_nothing_and_retry_after_is_the_longest(run, open_storage_with) -> None:
    clock = Clock()
    api, key = Limit("api:a", 3, 1.0), Limit("key:k", 1, 10.0)

    async def main() -> None:
        async with open_storage_with(clock) as storage:
            limiter = storage.limiter
            assert (await limiter.hit([api, key])).allowed
            refused = await limiter.hit([api, key])
            assert (refused.allowed, refused.counter, refused.retry_after) == (False, "key:k", 10.0)
            # The refused requests did not consume the API's limit: two more pass without the key.
            assert (await limiter.hit([api])).allowed and (await limiter.hit([api])).allowed
            assert not (await limiter.hit([api])).allowed
            clock.now += 0.5
            both = await limiter.hit([api, key])
            assert (both.counter, both.retry_after) == ("key:k", 9.5)  # the longer wait of the two
            assert (await limiter.hit([Limit("x", 0, 1.0), Limit("y", 5, 0)])).allowed  # 0 = no limit
            fractional = Limit("f", 0.5, 2.0)  # one request per 2 s... written as half a request per second
            assert (await limiter.hit([fractional])).allowed and not (await limiter.hit([fractional])).allowed

    run(main())


def test_verdicts_tell_the_tightest_limit_what_is_left_and_when_it_resets(run, open_storage_with) -> None:
    clock = Clock()
    wide, narrow = Limit("api:w", 10, 60.0), Limit("key:n", 3, 6.0)

    async def main() -> None:
        async with open_storage_with(clock) as storage:
            first = await storage.limiter.hit([wide, narrow])
            assert (first.allowed, first.counter, first.remaining, first.limit, first.reset) == (
                True, "key:n", 2, 3, 6.0)
            clock.now += 2.0
            second = await storage.limiter.hit([wide])
            assert (second.counter, second.remaining, second.limit, second.reset) == ("api:w", 8, 10, 58.0)
            clock.now += 1.0
            await storage.limiter.hit([narrow])
            third = await storage.limiter.hit([wide, narrow])  # the narrow limit's third request: nothing left
            assert (third.counter, third.remaining, third.reset) == ("key:n", 0, 3.0)
            refused = await storage.limiter.hit([wide, narrow])
            assert (refused.allowed, refused.counter, refused.remaining, refused.limit) == (False, "key:n", 0, 3)
            assert refused.retry_after == refused.reset == 3.0  # the first request leaves at 1006

    run(main())


def test_concurrent_requests_never_pass_beyond_the_limit(run, open_storage_with) -> None:
    ten = [Limit("api:c", 10, 60.0)]

    async def main() -> None:
        async with open_storage_with() as storage:  # the implementation's own clock
            verdicts = await asyncio.gather(*(storage.limiter.hit(ten) for _ in range(40)))
            assert sum(v.allowed for v in verdicts) == 10
            assert sorted(v.remaining for v in verdicts if v.allowed) == list(range(10))
            assert all(55 < v.retry_after <= 60 for v in verdicts if not v.allowed)

    run(main())


def test_quotas_count_up_to_the_maximum_and_renew(run, open_storage_with) -> None:
    clock = Clock()

    async def main() -> None:
        async with open_storage_with(clock) as storage:
            limiter = storage.limiter
            got = [await limiter.consume_quota("q", 3, 60) for _ in range(4)]
            assert [v.allowed for v in got] == [True, True, True, False]
            assert [v.remaining for v in got[:3]] == [2, 1, 0] and got[3].retry_after == 60
            assert (got[0].counter, got[0].limit, got[0].reset) == ("q", 3, 60)
            clock.now += 59.9
            assert not (await limiter.consume_quota("q", 3, 60)).allowed
            clock.now += 0.1
            renewed = await limiter.consume_quota("q", 3, 60)
            assert (renewed.allowed, renewed.remaining, renewed.reset) == (True, 2, 60)
            for unlimited in (-1, 0):
                assert all([(await limiter.consume_quota("u", unlimited, 60)).allowed for _ in range(10)])
            assert [(await limiter.consume_quota("never", 1, -1)).allowed for _ in range(2)] == [True, False]
            clock.now += 10**6
            assert not (await limiter.consume_quota("never", 1, -1)).allowed  # no renewal, however long
            await limiter.reset_quota("never")
            assert (await limiter.consume_quota("never", 1, -1)).allowed

    run(main())


def test_records_by_id_with_a_unique_index(run, open_storage_with) -> None:
    async def main() -> None:
        async with open_storage_with() as storage:
            records = storage.records("keys")
            assert await records.get("a") is None and await records.list() == []
            assert await records.put("a", {"n": 1, "tags": ["x"]}, {"hash": "h1"}, create=True)
            assert not await records.put("a", {"n": 2}, {"hash": "h9"}, create=True)  # create-only: exists
            assert await records.get("a") == {"n": 1, "tags": ["x"]}
            assert await records.find("hash", "h9") is None  # the refused create indexed nothing
            assert await records.find("hash", "h1") == {"n": 1, "tags": ["x"]}
            assert await records.peek("hash", "h1") == {"n": 1, "tags": ["x"]}
            assert await records.put("a", {"n": 3}, {"hash": "h2"})  # replace: its old index value goes
            assert await records.find("hash", "h1") is None and await records.peek("hash", "h1") is None
            assert await records.find("hash", "h2") == {"n": 3} and await records.peek("hash", "h2") == {"n": 3}
            assert await records.put("b", {"n": 4}, {"hash": "h1"})  # the freed value can be taken
            assert sorted(r["n"] for r in await records.list()) == [3, 4]
            assert await records.delete("a") and not await records.delete("a")
            assert await records.get("a") is None and await records.find("hash", "h2") is None
            assert await records.peek("hash", "h2") is None
            assert await records.find("hash", "h1") == {"n": 4}

    run(main())


def test_a_duplicate_index_value_changes_nothing(run, open_storage_with) -> None:
    async def main() -> None:
        async with open_storage_with() as storage:
            records = storage.records("keys")
            await records.put("a", {"n": 1}, {"hash": "h1"})
            await records.put("b", {"n": 2}, {"hash": "h2"})
            for attempt in ("b", "c"):
                with pytest.raises(DuplicateIndex) as exc:
                    await records.put(attempt, {"n": 9}, {"hash": "h1"})
                assert exc.value.index == "hash" and "h1" not in str(exc.value)  # index values may be secrets
            assert await records.get("b") == {"n": 2} and await records.get("c") is None
            assert await records.find("hash", "h2") == {"n": 2} and await records.find("hash", "h1") == {"n": 1}
            assert await records.put("a", {"n": 5}, {"hash": "h1"})  # its own value again is no duplicate

    run(main())


def test_records_are_copies_and_namespaces_are_apart(run, open_storage_with) -> None:
    async def main() -> None:
        async with open_storage_with() as storage:
            keys, policies = storage.records("keys"), storage.records("policies")
            record = {"rights": {"api": {"versions": ["v1"]}}}
            await keys.put("same-id", record, {"hash": "v"})
            record["rights"]["api"]["versions"].append("v2")
            fetched = await keys.get("same-id")
            assert fetched == {"rights": {"api": {"versions": ["v1"]}}}
            fetched["rights"].clear()
            assert (await keys.get("same-id"))["rights"] == {"api": {"versions": ["v1"]}}
            assert await policies.get("same-id") is None and await policies.find("hash", "v") is None
            await policies.put("same-id", {"p": 1}, {"hash": "v"})  # another namespace: no duplicate
            assert (await keys.find("hash", "v"), await policies.find("hash", "v")) == (
                {"rights": {"api": {"versions": ["v1"]}}}, {"p": 1})

    run(main())


def test_a_key_store_on_the_storage(run, open_storage_with) -> None:
    async def main() -> None:
        async with open_storage_with() as storage:
            store = KeyStore(storage.records("keys"))
            key, session = await store.create({"alias": "a", "rate": 2.5, "access_rights": {"x": {}}})
            found = await store.lookup(key)
            assert found == session and found.rate == 2.5 and await store.lookup(key + "x") is None
            updated = await store.update(session.id, {"alias": "b"})
            assert updated is not None and (await store.lookup(key)).alias == "b"
            assert [s.id for s in await store.list()] == [session.id]
            assert await store.delete(session.id) and await store.lookup(key) is None

    run(main())
