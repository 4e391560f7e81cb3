"""The http_server output with real clients: WebSocket, SSE, raw stream, long-poll; round_robin and
broadcast distribution; slow consumers."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from engine.components._http import http_components
from engine.components.outputs.http_server import SLOW_CONSUMER_REASON
from engine.message import Message

from .support import serving, small_receive_buffer_socket, until

IN = "input:\n  inproc: in\n"


def output(**fields: object) -> str:
    body = "".join(f"    {k}: {v}\n" for k, v in fields.items())
    return IN + "output:\n  http_server:\n" + (body or "    {}\n")


async def recv_n(ws: websockets.ClientConnection, n: int, timeout: float = 5.0) -> list[bytes | str]:
    return [await asyncio.wait_for(ws.recv(), timeout) for _ in range(n)]


def test_ws_subscriber_receives_messages_in_order(run) -> None:
    async def main() -> list[bytes | str]:
        async with serving(output(ws_path="/subscribe")) as srv, connect(srv.ws + "/subscribe") as ws:
            await until(lambda: srv.component().stats["clients"] == 1, what="the subscriber")
            feeding = asyncio.ensure_future(srv.feed("one", "two", '{"n":3}'))
            got = await recv_n(ws, 3)
            await feeding
            return got

    assert run(main()) == [b"one", b"two", b'{"n":3}']


def test_ws_text_frames(run) -> None:
    async def main() -> list[bytes | str]:
        async with serving(output(ws_message_type="text")) as srv, connect(srv.ws + "/get/ws") as ws:
            await until(lambda: srv.component().stats["clients"] == 1)
            await srv.feed("héllo")
            return await recv_n(ws, 1)

    assert run(main()) == ["héllo"]


def test_round_robin_gives_each_message_to_exactly_one_client(run) -> None:
    async def main() -> tuple[list[bytes], list[bytes]]:
        async with serving(output()) as srv, connect(srv.ws + "/get/ws") as a, connect(srv.ws + "/get/ws") as b:
            await until(lambda: srv.component().stats["clients"] == 2)
            sent = [f"m{i}" for i in range(20)]
            await srv.feed(*sent)
            # Every message was queued to one of them; each must now receive its share.
            got_a: list[bytes] = []
            got_b: list[bytes] = []

            async def drain(ws: websockets.ClientConnection, into: list[bytes]) -> None:
                while True:
                    into.append(await ws.recv())  # type: ignore[arg-type]

            tasks = [asyncio.ensure_future(drain(a, got_a)), asyncio.ensure_future(drain(b, got_b))]
            await until(lambda: len(got_a) + len(got_b) >= 20, what="all 20 messages")
            for t in tasks:
                t.cancel()
            assert srv.component().stats["delivered"] == 20
            return got_a, got_b

    got_a, got_b = run(main())
    assert len(got_a) == len(got_b) == 10  # strict rotation while both have room
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == sorted(f"m{i}".encode() for i in range(20))
    assert got_a == sorted(got_a, key=lambda m: int(m[1:])) and got_b == sorted(got_b, key=lambda m: int(m[1:]))


def test_round_robin_waits_for_a_client(run) -> None:
    async def main() -> list[bytes | str]:
        async with serving(output()) as srv:
            feeding = asyncio.ensure_future(srv.feed("early"))
            await asyncio.sleep(0.1)
            assert not feeding.done()  # held: nobody to give it to (backpressure)
            async with connect(srv.ws + "/get/ws") as ws:
                got = await recv_n(ws, 1)
                await asyncio.wait_for(feeding, 5)
                return got

    assert run(main()) == [b"early"]


def test_broadcast_every_client_gets_every_message(run) -> None:
    async def main() -> list[list[bytes | str]]:
        async with serving(output(fan_out="broadcast")) as srv:
            async with connect(srv.ws + "/get/ws") as a, connect(srv.ws + "/get/ws") as b, \
                    connect(srv.ws + "/get/ws") as c:
                await until(lambda: srv.component().stats["clients"] == 3)
                await srv.feed(*[f"m{i}" for i in range(10)])
                result = [await recv_n(ws, 10) for ws in (a, b, c)]
                await until(lambda: srv.component().stats["delivered"] == 30, what="30 deliveries")
                return result

    expected = [f"m{i}".encode() for i in range(10)]
    assert run(main()) == [expected, expected, expected]


def test_broadcast_builds_each_frame_once_and_shares_it(run) -> None:
    async def main() -> None:
        async with serving(output(fan_out="broadcast", stream_format="event_source")) as srv:
            out = srv.component()
            subs = [out.subscribe("ws") for _ in range(3)] + [out.subscribe("stream") for _ in range(2)]
            await out.write([Message(b"payload-1"), Message(b"line\nbreak")])
            ws_frames = [list(s.buffer) for s in subs[:3]]
            sse_frames = [list(s.buffer) for s in subs[3:]]
            for frames in ws_frames[1:]:
                assert [id(f) for f in frames] == [id(f) for f in ws_frames[0]]
            for frames in sse_frames[1:]:
                assert [id(f) for f in frames] == [id(f) for f in sse_frames[0]]
            assert ws_frames[0] == [b"payload-1", b"line\nbreak"]
            assert sse_frames[0] == [b"id: 1\ndata: payload-1\n\n", b"id: 2\ndata: line\ndata: break\n\n"]
            for sub in subs:
                out.unsubscribe(sub)

    run(main())


def test_slow_websocket_client_is_disconnected_with_1008_and_the_fast_one_gets_everything(run) -> None:
    payload = b"x" * 16384

    async def main() -> None:
        config = output(fan_out="broadcast", send_buffer=4)
        async with serving(config) as srv:
            out = srv.component()
            sock = small_receive_buffer_socket(srv.address)
            async with connect(srv.ws + "/get/ws") as fast, \
                    connect(srv.ws + "/get/ws", sock=sock, max_queue=1, compression=None) as slow:
                await until(lambda: out.stats["clients"] == 2)
                sent = 0
                # Pace on the fast client: it reads each message before the next is written.
                while out.stats["disconnected_slow"] == 0:
                    assert sent < 3000, "the slow client was never disconnected"
                    await srv.feed(payload + str(sent).encode())
                    assert await asyncio.wait_for(fast.recv(), 5) == payload + str(sent).encode()
                    sent += 1
                for extra in range(5):  # the fast client carries on
                    await srv.feed(b"after-%d" % extra)
                    assert await asyncio.wait_for(fast.recv(), 5) == b"after-%d" % extra
                assert out.stats["clients"] == 1
                # The slow client now reads what had reached it, then the close frame.
                received = 0
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(slow.recv(), 10)
                        received += 1
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1008
                assert closed.value.rcvd.reason == SLOW_CONSUMER_REASON
                assert received < sent

    run(main(), timeout=60)


def test_drop_oldest_keeps_the_client_and_counts_drops(run) -> None:
    payload = b"y" * 16384

    async def main() -> None:
        async with serving(output(fan_out="broadcast", send_buffer=4, slow_consumer="drop_oldest")) as srv:
            out = srv.component()
            sock = small_receive_buffer_socket(srv.address)
            async with connect(srv.ws + "/get/ws") as fast, \
                    connect(srv.ws + "/get/ws", sock=sock, max_queue=1, compression=None) as slow:
                await until(lambda: out.stats["clients"] == 2)
                sent = 0
                while out.stats["dropped"] < 10:
                    assert sent < 3000, "nothing was dropped"
                    await srv.feed(payload + str(sent).encode())
                    assert await asyncio.wait_for(fast.recv(), 5) == payload + str(sent).encode()
                    sent += 1
                last = payload + str(sent - 1).encode()
                assert out.stats["disconnected_slow"] == 0 and out.stats["clients"] == 2
                received = []
                while not received or received[-1] != last:  # the newest messages were kept
                    received.append(await asyncio.wait_for(slow.recv(), 10))
                assert len(received) <= sent - out.stats["dropped"]

    run(main(), timeout=60)


def test_sse_stream_has_increasing_ids_data_lines_and_heartbeats(run) -> None:
    async def main() -> list[str]:
        config = output(stream_path="/events", stream_format="event_source", heartbeat="50ms",
                        fan_out="broadcast")
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            async with client.stream("GET", srv.http + "/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/event-stream"
                await until(lambda: srv.component().stats["clients"] == 1)
                lines: list[str] = []
                lines_iter = response.aiter_lines()

                async def read_until(pred) -> None:  # type: ignore[no-untyped-def]
                    while True:
                        line = await asyncio.wait_for(lines_iter.__anext__(), 5)
                        lines.append(line)
                        if pred(line):
                            return

                await read_until(lambda line: line == ": heartbeat")  # idle: a heartbeat comes
                await srv.feed("first", "two\nlines", "third")
                await read_until(lambda line: line == "data: third")
                return lines

    lines = run(main())
    events = [line for line in lines if line and not line.startswith(":")]
    assert events == ["id: 1", "data: first", "id: 2", "data: two", "data: lines", "id: 3", "data: third"]
    assert lines.count(": heartbeat") >= 1


def test_raw_stream_is_newline_delimited(run) -> None:
    async def main() -> bytes:
        async with serving(output()) as srv, httpx.AsyncClient(timeout=5) as client:
            async with client.stream("GET", srv.http + "/get/stream") as response:
                assert response.status_code == 200
                await until(lambda: srv.component().stats["clients"] == 1)
                await srv.feed("a", '{"b":1}', "c")
                body = b""
                chunks = response.aiter_raw()
                while body.count(b"\n") < 3:
                    body += await asyncio.wait_for(chunks.__anext__(), 5)
                return body

    assert run(main()) == b'a\n{"b":1}\nc\n'


def test_long_poll_returns_one_message(run) -> None:
    async def main() -> httpx.Response:
        async with serving(output()) as srv, httpx.AsyncClient(timeout=5) as client:
            polling = asyncio.ensure_future(client.get(srv.http + "/get"))
            await until(lambda: srv.component().stats["clients"] == 1)
            await srv.feed("polled")
            return await polling

    response = run(main())
    assert response.status_code == 200
    assert response.content == b"polled"


def test_long_poll_times_out_with_408_problem(run) -> None:
    async def main() -> httpx.Response:
        async with serving(output(timeout="200ms")) as srv, httpx.AsyncClient(timeout=5) as client:
            response = await client.get(srv.http + "/get")
            assert srv.component().stats["poll_timeouts"] == 1
            return response

    response = run(main())
    assert response.status_code == 408
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 408


def test_long_poll_returns_a_batch_as_multipart(run) -> None:
    async def main() -> httpx.Response:
        async with serving(output()) as srv, httpx.AsyncClient(timeout=5) as client:
            polling = asyncio.ensure_future(client.get(srv.http + "/get"))
            await until(lambda: srv.component().stats["clients"] == 1)
            await srv.feed_batch(b"one", b"two", b"three")
            return await polling

    response = run(main())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    raw = b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert [part.get_payload(decode=True) for part in message.iter_parts()] == [b"one", b"two", b"three"]


def test_verbs_not_allowed_get_405(run) -> None:
    async def main() -> httpx.Response:
        async with serving(output()) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.post(srv.http + "/get", content=b"x")

    response = run(main())
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


def test_cors_headers_for_allowed_origins(run) -> None:
    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        config = IN + ("output:\n  http_server:\n    timeout: 100ms\n    cors:\n      enabled: true\n"
                       "      allowed_origins: [https://app.example]\n")
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            ok = await client.get(srv.http + "/get", headers={"Origin": "https://app.example"})
            other = await client.get(srv.http + "/get", headers={"Origin": "https://evil.example"})
            preflight = await client.options(srv.http + "/get", headers={
                "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
            return ok, other, preflight

    ok, other, preflight = run(main())
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 204 and "GET" in preflight.headers["access-control-allow-methods"]


def test_close_clients_closes_websockets_with_the_code_and_http_components_finds_the_output(run) -> None:
    async def main() -> None:
        async with serving(output()) as srv:
            out = srv.component()
            assert http_components(srv.manager.routes) == [out]
            async with connect(srv.ws + "/get/ws") as ws:
                await until(lambda: out.stats["clients"] == 1)
                assert out.close_clients(1001, "API deleted") == 1
                assert await out.wait_clients_closed(5)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "API deleted")
                assert out.stats["clients"] == 0

    run(main())


def test_stopping_the_stream_closes_subscribers_with_1001(run) -> None:
    async def main() -> None:
        async with serving(output()) as srv, connect(srv.ws + "/get/ws") as ws:
            await until(lambda: srv.component().stats["clients"] == 1)
            srv.manager.stop()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001

    run(main())
