"""redis_streams and redis_pubsub against the local Redis: delivery, XACK only after delivery,
pending-entry recovery, metadata, a killed connection, wrong addresses and config errors.

Redis on this machine keeps nothing on disk, so it is never restarted here: connection loss is
simulated by killing this test's own client connections (CLIENT KILL ID)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def wait_for(condition, timeout: float = 5.0, interval: float = 0.02):  # type: ignore[no-untyped-def]
    """Poll an async CONDITION until it returns something truthy; fail after TIMEOUT."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


def streams_input(url: str, stream: str, group: str, client_id: str = "", extra: str = "") -> str:
    return f"""
input:
  redis_streams:
    url: {url}
    streams: [{stream}]
    consumer_group: {group}
    client_id: "{client_id}"
    commit_period: 10ms
    timeout: 100ms
{extra}
output: {{ inproc: out }}
"""


async def pending_count(r: aioredis.Redis, stream: str, group: str) -> int:
    info = await r.xpending(stream, group)
    return int(info["pending"])


# -- redis_streams output ---------------------------------------------------------------------

def test_streams_output_xadd_with_metadata_and_interpolated_stream(run, redis_address) -> None:
    url = f"redis://{redis_address}"
    base = uid("out")

    async def main() -> None:
        r = aioredis.Redis.from_url(url)
        try:
            config = f"""
input: {{ inproc: in }}
output:
  redis_streams:
    url: {url}
    stream: '{base}-${{! meta("tenant") }}'
    body_key: payload
    max_length: 1000
    metadata: {{ exclude_prefixes: [secret_] }}
"""
            feed = [Message(b'{"n":1}', {"tenant": "a", "kind": "order", "secret_token": "x"}),
                    Message(b'{"n":2}', {"tenant": "b", "count": 3})]
            await run_config(config, feed=feed)
            a = await r.xrange(f"{base}-a")
            b = await r.xrange(f"{base}-b")
            assert [fields for _, fields in a] == [{b"payload": b'{"n":1}', b"tenant": b"a", b"kind": b"order"}]
            assert [fields for _, fields in b] == [{b"payload": b'{"n":2}', b"tenant": b"b", b"count": b"3"}]
        finally:
            await r.delete(f"{base}-a", f"{base}-b")
            await r.aclose()

    run(main(), timeout=20)


# -- redis_streams input ----------------------------------------------------------------------

def test_streams_input_delivers_with_metadata_and_acks_only_after_delivery(run, redis_address) -> None:
    url = f"redis://{redis_address}"
    stream, group = uid("in"), uid("g")

    async def main() -> None:
        r = aioredis.Redis.from_url(url)
        try:
            first = await r.xadd(stream, {"body": b"hello", "source": "test"})
            await r.xadd(stream, {"nobody": b"x"})  # malformed: no body key
            manager = Manager(load(streams_input(url, stream, group, "c1")))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                batch, ack = await asyncio.wait_for(manager.hub.receive("out"), 10)
                assert [m.raw for m in batch] == [b"hello"]
                assert batch[0].meta == {"source": "test", "redis_stream": first.decode()}
                assert batch[0].error is None
                # Not delivered yet: the entry is still pending in the group.
                assert await pending_count(r, stream, group) == 2
                await ack(RuntimeError("output down"))
                # Nacked: the same entry comes again (runtime replay), still pending meanwhile;
                # the malformed entry arrives empty and marked errored.
                seen = {}
                for _ in range(2):
                    batch, ack = await asyncio.wait_for(manager.hub.receive("out"), 10)
                    seen[batch[0].raw] = batch[0]
                    if batch[0].raw == b"hello":
                        assert await pending_count(r, stream, group) == 2
                    await ack(None)
                assert sorted(seen) == [b"", b"hello"]
                assert "no field 'body'" in (seen[b""].error or "")
                await wait_for(lambda: _is(pending_count(r, stream, group), 0))
            finally:
                manager.stop()
                await running
        finally:
            await r.delete(stream)
            await r.aclose()

    run(main(), timeout=30)


async def _is(coro, expected) -> bool:  # type: ignore[no-untyped-def]
    return (await coro) == expected


def test_streams_input_recovers_pending_entries_of_its_client_id(run, redis_address) -> None:
    """Entries read by a consumer that died before acking are read again by the next start."""
    url = f"redis://{redis_address}"
    stream, group = uid("rec"), uid("g")

    async def main() -> None:
        r = aioredis.Redis.from_url(url)
        try:
            await r.xgroup_create(stream, group, id="0", mkstream=True)
            for i in range(3):
                await r.xadd(stream, {"body": f"old-{i}"})
            # A previous run of consumer "w1" read these and crashed before acking.
            got = await r.xreadgroup(group, "w1", {stream: ">"}, count=10)
            assert len(got[0][1]) == 3
            await r.xadd(stream, {"body": "new-0"})
            msgs = await run_config(streams_input(url, stream, group, "w1"), expect=4)
            assert [m.raw for m in msgs] == [b"old-0", b"old-1", b"old-2", b"new-0"]
            await wait_for(lambda: _is(pending_count(r, stream, group), 0))
        finally:
            await r.delete(stream)
            await r.aclose()

    run(main(), timeout=30)


def test_streams_input_survives_killed_connection(run, redis_address) -> None:
    """Our connections are killed mid-stream (CLIENT KILL ID, only this input's): the input
    reconnects, nothing is lost and every entry is acknowledged in the end."""
    url = f"redis://{redis_address}"
    stream, group, client_id = uid("kill"), uid("g"), uid("c")

    async def kill_ours(r: aioredis.Redis) -> int:
        killed = 0
        for client in await r.client_list():
            if client.get("name") == f"asyncgate:{client_id}":
                await r.execute_command("CLIENT", "KILL", "ID", client["id"])
                killed += 1
        return killed

    async def main() -> None:
        r = aioredis.Redis.from_url(url)
        try:
            for i in range(5):
                await r.xadd(stream, {"body": f"m{i}"})
            manager = Manager(load(streams_input(url, stream, group, client_id)))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                got = await asyncio.wait_for(collect(manager.hub, "out", 5), 10)
                assert await wait_for(lambda: kill_ours(r)) >= 1
                for i in range(5, 10):
                    await r.xadd(stream, {"body": f"m{i}"})
                got += await asyncio.wait_for(collect(manager.hub, "out", 5), 15)
                assert [m.raw.decode() for m in got] == [f"m{i}" for i in range(10)]
                await wait_for(lambda: _is(pending_count(r, stream, group), 0), timeout=10)
            finally:
                manager.stop()
                await running
        finally:
            await r.delete(stream)
            await r.aclose()

    run(main(), timeout=40)


def test_streams_roundtrip_through_engine(run, redis_address) -> None:
    """redis_streams output → Redis → redis_streams input, metadata carried as entry fields."""
    url = f"redis://{redis_address}"
    stream, group = uid("rt"), uid("g")

    async def main() -> None:
        r = aioredis.Redis.from_url(url)
        try:
            await run_config(f"""
input: {{ inproc: in }}
output: {{ redis_streams: {{ url: "{url}", stream: {stream} }} }}
""", feed=[Message(f"v{i}".encode(), {"i": str(i)}) for i in range(20)])
            msgs = await run_config(streams_input(url, stream, group), expect=20)
            assert [m.raw for m in msgs] == [f"v{i}".encode() for i in range(20)]
            assert [m.meta["i"] for m in msgs] == [str(i) for i in range(20)]
        finally:
            await r.delete(stream)
            await r.aclose()

    run(main(), timeout=30)


# -- redis_pubsub ---------------------------------------------------------------------------

def test_pubsub_input_and_output(run, redis_address) -> None:
    url = f"redis://{redis_address}"
    channel = uid("chan")

    async def main() -> None:
        r = aioredis.Redis.from_url(url)
        try:
            # Input with a pattern: what Redis publishes arrives in order.
            manager = Manager(load(f"""
input:
  redis_pubsub: {{ url: "{url}", channels: ["{channel}.*"], use_patterns: true }}
output: {{ inproc: out }}
"""))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            try:
                await wait_for(lambda: _numpat(r))
                for i in range(3):
                    await r.publish(f"{channel}.x", f"p{i}")
                await r.publish(f"other-{channel}", "not for us")
                got = await asyncio.wait_for(collect(manager.hub, "out", 3), 10)
                assert [m.raw for m in got] == [b"p0", b"p1", b"p2"]
            finally:
                manager.stop()
                await running

            # Output: a subscriber of our own sees each message on its interpolated channel.
            sub = r.pubsub()
            await sub.subscribe(f"{channel}-a", f"{channel}-b")
            await run_config(f"""
input: {{ inproc: in }}
output: {{ redis_pubsub: {{ url: "{url}", channel: '{channel}-${{! meta("to") }}' }} }}
""", feed=[Message(b"one", {"to": "a"}), Message(b"two", {"to": "b"})])
            seen = []
            while len(seen) < 2:
                item = await asyncio.wait_for(sub.get_message(ignore_subscribe_messages=True, timeout=1), 5)
                if item is not None:
                    seen.append((item["channel"], item["data"]))
            assert seen == [(f"{channel}-a".encode(), b"one"), (f"{channel}-b".encode(), b"two")]
            await sub.aclose()
        finally:
            await r.aclose()

    run(main(), timeout=30)


async def _numpat(r: aioredis.Redis) -> bool:
    return int(await r.pubsub_numpat()) > 0


# -- errors ----------------------------------------------------------------------------------

def test_wrong_address_fails_at_connect_naming_component_and_address(run) -> None:
    async def main() -> None:
        for config in (
            ("input: { redis_streams: { url: 'redis://127.0.0.1:1', streams: [s], consumer_group: g } }\n"
            "output: { drop: {} }"),
            "input: { redis_pubsub: { url: 'redis://127.0.0.1:1', channels: [c] } }\noutput: { drop: {} }",
            "input: { inproc: in }\noutput: { redis_streams: { url: 'redis://127.0.0.1:1', stream: s } }",
            "input: { inproc: in }\noutput: { redis_pubsub: { url: 'redis://127.0.0.1:1', channel: c } }",
        ):
            manager = Manager(load(config))
            manager.build()
            with pytest.raises(ComponentError) as exc:
                await asyncio.wait_for(manager.run(), 15)
            text = str(exc.value)
            assert "redis_" in text and "redis://127.0.0.1:1" in text and "cannot connect" in text, text

    run(main(), timeout=40)


def test_cli_run_wrong_address_exits_with_clear_error(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input:\n  label: events\n  redis_streams:\n    url: redis://127.0.0.1:1\n"
                    "    streams: [s]\n    consumer_group: g\noutput: { drop: {} }\n")
    result = subprocess.run([sys.executable, "-m", "engine", "run", str(path)], cwd=ROOT, check=False,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "events" in result.stderr and "redis://127.0.0.1:1" in result.stderr, result.stderr


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as exc:
        load("input:\n  redis_streams:\n    url: redis://127.0.0.1:6379\n    streams: [s]\n"
             "    consumer_grup: g\noutput: { drop: {} }\n")
    text = str(exc.value)
    assert "test.yaml:5:5" in text and 'did you mean "consumer_group"' in text.replace("'", '"'), text
    with pytest.raises(ConfigError) as exc:
        load("input: { inproc: in }\noutput:\n  redis_streams:\n    url: redis://127.0.0.1:6379\n"
             "    stream: '${! meta( }'\n")
    assert "test.yaml:5:" in str(exc.value) and "invalid interpolation" in str(exc.value)
    # A bad value caught by the component itself names its config path.
    manager = Manager(load("input:\n  redis_streams:\n    url: http://x\n    streams: [s]\n"
                           "    consumer_group: g\noutput: { drop: {} }\n"))
    with pytest.raises(ComponentError, match=r"input\.redis_streams.*not a redis://"):
        manager.build()
