"""http_client output (webhooks: retries, Retry-After, Standard Webhooks signatures, dead letters) and
http_client input (polling, streaming) against a real HTTP server started by each test on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import pytest

from engine.components._http import split_multipart
from engine.components._http_client import parse_retry_after
from engine.errors import ComponentError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load
from tests.integration._local_ports import stable_port

DEADLINE = 5.0
KEY = b"0123456789abcdef-test-signing-key"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)


Reply = tuple[int, dict[str, str], bytes]


class Receiver:
    """A small HTTP/1.1 server: answers each request with HANDLER(request, number) (keep-alive)."""

    def __init__(self, handler: Callable[[Request, int], Reply] | None = None) -> None:
        self.handler = handler or (lambda req, n: (200, {}, b""))
        self.requests: list[Request] = []
        self._arrived = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self._writers):
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body)
                self.requests.append(request)
                self._arrived.set()
                status, extra, reply = self.handler(request, len(self.requests))
                if extra.get("_stream"):  # a body without a length, ended by closing the connection
                    writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                                 .encode() + reply)
                    await writer.drain()
                    return
                head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(reply)}"]
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def wait_for(self, count: int, timeout: float = DEADLINE) -> list[Request]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.requests) < count:
            remaining = deadline - loop.time()
            assert remaining > 0, f"expected {count} request(s), got {len(self.requests)}"
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass
        return self.requests


def plan(*replies: Reply) -> Callable[[Request, int], Reply]:
    """Answer the first requests with REPLIES, the rest 200."""
    return lambda req, n: replies[n - 1] if n <= len(replies) else (200, {}, b"")


def independent_signature(msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


async def start(yaml_text: str) -> tuple[Manager, asyncio.Future[bool]]:
    manager = Manager(load(yaml_text))
    manager.build()
    return manager, asyncio.ensure_future(manager.run())


async def stop(manager: Manager, running: asyncio.Future[bool]) -> bool:
    manager.stop()
    return await asyncio.wait_for(running, DEADLINE)


# -- output -------------------------------------------------------------------------------
def test_signed_webhook_retries_with_stable_id_and_retry_after(run) -> None:
    async def main() -> None:
        async with Receiver(plan((500, {}, b""), (429, {"Retry-After": "1"}, b""))) as rx:
            manager, running = await start(f"""
input: {{ inproc: in }}
output:
  http_client:
    url: '{rx.url}/hooks/${{! meta("tenant") }}'
    headers:
      Content-Type: application/json
      X-Order: '${{! this.order }}'
    metadata:
      include_prefixes: [trace_]
    retry_period: 50ms
    max_retry_backoff: 3s
    webhook_signing:
      secret: {SECRET}
""")
            body = b'{"order":"o-17","total":3}'
            msg = Message(body, {"tenant": "acme", "trace_id": "t-1", "secret_meta": "no"})
            await asyncio.wait_for(manager.hub.send("in", [msg]), DEADLINE + 2)
            requests = await rx.wait_for(3)
            assert await stop(manager, running)

        assert len(requests) == 3
        for req in requests:
            assert req.method == "POST" and req.path == "/hooks/acme"
            assert req.body == body
            assert req.headers["content-type"] == "application/json"
            assert req.headers["x-order"] == "o-17"
            assert req.headers["trace_id"] == "t-1" and "secret_meta" not in req.headers
            # Standard Webhooks: verified with our own HMAC, not the engine's code.
            assert req.headers["webhook-signature"] == independent_signature(
                req.headers["webhook-id"], req.headers["webhook-timestamp"], req.body)
            assert abs(int(req.headers["webhook-timestamp"]) - req.at) < 2
        ids = {req.headers["webhook-id"] for req in requests}
        assert len(ids) == 1 and ids.pop().startswith("msg_"), "webhook-id must not change across retries"
        # The 429's Retry-After (1s) was honoured, and the timestamp is fresh on the later attempt.
        assert requests[2].at - requests[1].at >= 0.9
        assert int(requests[2].headers["webhook-timestamp"]) > int(requests[1].headers["webhook-timestamp"])
        # The 500 was retried after retry_period (50ms), not after a long backoff.
        assert requests[1].at - requests[0].at < 0.9

    run(main(), timeout=15)


def test_dead_letter_after_last_retry_goes_to_fallback(run) -> None:
    async def main() -> None:
        async with Receiver(lambda req, n: (503, {}, b"")) as rx:
            manager, running = await start(f"""
input: {{ inproc: in }}
output:
  fallback:
    - http_client:
        url: {rx.url}/hook
        retries: 2
        retry_period: 10ms
        webhook_signing: {{ secret: {SECRET} }}
    - inproc: dead
""")
            sent = asyncio.ensure_future(manager.hub.send("in", [Message(b"payload")]))
            batch, ack = await asyncio.wait_for(manager.hub.receive("dead"), DEADLINE)
            assert [m.raw for m in batch] == [b"payload"]
            error = batch[0].meta["fallback_error"]
            assert "HTTP 503" in error and "gave up after 3 attempts" in error and f"{rx.url}/hook" in error, error
            await ack(None)
            await asyncio.wait_for(sent, DEADLINE)
            assert len(rx.requests) == 3  # the first attempt and `retries: 2`
            assert len({r.headers["webhook-id"] for r in rx.requests}) == 1
            assert await stop(manager, running)

    run(main(), timeout=15)


def test_nacked_without_fallback_is_redelivered(run) -> None:
    async def main() -> None:
        # Every attempt of the first delivery fails; the input (inproc) sees the nack.
        async with Receiver(plan((500, {}, b""), (500, {}, b""))) as rx:
            manager, running = await start(f"""
input: {{ inproc: in }}
output: {{ http_client: {{ url: "{rx.url}/x", retries: 1, retry_period: 10ms }} }}
""")
            with pytest.raises(Exception, match="HTTP 500"):
                await asyncio.wait_for(manager.hub.send("in", [Message(b"again")]), DEADLINE)
            assert len(rx.requests) == 2
            await asyncio.wait_for(manager.hub.send("in", [Message(b"again")]), DEADLINE)
            assert [r.body for r in rx.requests] == [b"again"] * 3
            assert await stop(manager, running)

    run(main(), timeout=15)


def test_drop_on_successful_on_and_partial_batches(run) -> None:
    def handler(req: Request, n: int) -> Reply:
        return {"/gone": (410, {}, b""), "/dupe": (409, {}, b"")}.get(req.path, (200, {}, b""))

    async def main() -> None:
        async with Receiver(handler) as rx:
            manager, running = await start(f"""
input: {{ inproc: in }}
output:
  fallback:
    - http_client:
        url: '{rx.url}/${{! content() }}'
        drop_on: [410]
        successful_on: [409]
        retry_period: 10ms
    - inproc: dead
""")
            sent = asyncio.ensure_future(manager.hub.send("in", [Message(b"ok"), Message(b"gone"), Message(b"dupe")]))
            batch, ack = await asyncio.wait_for(manager.hub.receive("dead"), DEADLINE)
            # Only the message whose request was dropped (410) is a dead letter; 409 counts as success.
            assert [m.raw for m in batch] == [b"gone"]
            assert "drop_on" in batch[0].meta["fallback_error"]
            await ack(None)
            await asyncio.wait_for(sent, DEADLINE)
            assert sorted(r.path for r in rx.requests) == ["/dupe", "/gone", "/ok"]  # 410 not retried
            assert await stop(manager, running)

    run(main(), timeout=15)


def test_batch_as_multipart(run) -> None:
    async def main() -> None:
        async with Receiver() as rx:
            manager, running = await start(f"""
input: {{ inproc: in }}
output: {{ http_client: {{ url: "{rx.url}/batch", batch_as_multipart: true }} }}
""")
            await asyncio.wait_for(manager.hub.send("in", [Message(b"first"), Message(b"second")]), DEADLINE)
            assert await stop(manager, running)
        assert len(rx.requests) == 1
        parts = split_multipart(rx.requests[0].body, rx.requests[0].headers["content-type"])
        assert [payload for _, payload in parts or []] == [b"first", b"second"]

    run(main(), timeout=15)


def test_connection_refused_names_the_url(run) -> None:
    async def main() -> None:
        url = f"http://127.0.0.1:{stable_port()}"  # nothing listens there
        manager, running = await start(f"""
input: {{ inproc: in }}
output:
  fallback:
    - http_client: {{ url: "{url}/down", retries: 1, retry_period: 10ms }}
    - inproc: dead
""")
        sent = asyncio.ensure_future(manager.hub.send("in", [Message(b"x")]))
        batch, ack = await asyncio.wait_for(manager.hub.receive("dead"), DEADLINE)
        error = batch[0].meta["fallback_error"]
        assert "ConnectError" in error and f"{url}/down" in error and "2 attempts" in error, error
        await ack(None)
        await asyncio.wait_for(sent, DEADLINE)
        assert await stop(manager, running)

    run(main(), timeout=15)


def test_invalid_secret_is_a_config_time_error() -> None:
    for secret, reason in (("not-whsec", "whsec_"), ("whsec_%%%", "base64"), ("whsec_YWJj", "bytes long")):
        manager = Manager(load(f"""
input: {{ inproc: in }}
output:
  label: hook
  http_client:
    url: http://127.0.0.1:1/x
    webhook_signing: {{ secret: "{secret}" }}
"""))
        with pytest.raises(ComponentError) as err:
            manager.build()
        assert 'output "hook"' in str(err.value) and reason in str(err.value), str(err.value)


def test_retry_after_forms() -> None:
    now = time.time()
    assert parse_retry_after("7") == 7.0
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(later, now) or 0) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# -- input ---------------------------------------------------------------------------------
def test_input_polls_with_retries_and_metadata(run) -> None:
    def handler(req: Request, n: int) -> Reply:
        if n == 1:
            return 500, {}, b""
        if n == 2:
            return 200, {}, b""  # an empty body is dropped
        return 200, {"X-Page": str(n)}, f'{{"n":{n}}}'.encode()

    async def main() -> None:
        async with Receiver(handler) as rx:
            manager, running = await start(f"""
input:
  http_client:
    url: {rx.url}/feed
    headers: {{ Accept: application/json }}
    retry_period: 10ms
    poll_interval: 20ms
    extract_headers: {{ include_prefixes: [x-] }}
output: {{ inproc: out }}
""")
            got = await asyncio.wait_for(collect(manager.hub, "out", 2), DEADLINE)
            assert await stop(manager, running)
        assert [m.structured for m in got] == [{"n": 3}, {"n": 4}]
        assert got[0].meta["http_status_code"] == 200 and got[0].meta["x-page"] == "3"
        assert all(r.method == "GET" and r.headers["accept"] == "application/json" for r in rx.requests)
        # poll_interval spaces the polls.
        assert rx.requests[3].at - rx.requests[2].at >= 0.015

    run(main(), timeout=15)


def test_input_stream_lines(run) -> None:
    async def main() -> None:
        async with Receiver(lambda req, n: (200, {"_stream": "1"}, b"alpha\n\nbeta\ngamma")) as rx:
            manager = Manager(load(f"""
input:
  http_client:
    url: {rx.url}/events
    stream: {{ enabled: true, reconnect: false }}
output: {{ inproc: out }}
"""))
            manager.build()
            running = asyncio.ensure_future(manager.run())
            got = await asyncio.wait_for(collect(manager.hub, "out", 3), DEADLINE)
            # Without reconnect the input ends with the body, and the stream with it.
            assert await asyncio.wait_for(running, DEADLINE)
        assert [m.raw for m in got] == [b"alpha", b"beta", b"gamma"]
        assert len(rx.requests) == 1

    run(main(), timeout=15)
