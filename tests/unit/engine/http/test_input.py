"""The http_server input with real clients: POST answered on delivery, failures, limits, multipart,
metadata, WebSocket publishers; and sync_response."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy

import httpx
import pytest
from websockets.asyncio.client import connect

from engine import registry
from engine.components.inputs.http_server import HttpServerInput
from engine.config.loader import load_text
from engine.errors import ComponentError
from engine.message import Message, carry_replies
from engine.runtime.context import BuildContext
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager
from tests.helpers import load

from .support import serving, until

OUT = "output:\n  inproc: out\n"
# Without processors a POST goes from its request straight to the output runner (the stream's InlineDelivery);
# with one, through the stream's read and work loops: the answers must be the same.
PATHS = pytest.mark.parametrize("pipeline", ["", "pipeline:\n  processors:\n    - mapping: root = content()\n"],
                                ids=["inline", "through_the_stream"])


@PATHS
def test_post_is_answered_only_after_the_output_acked(run, pipeline: str) -> None:
    async def main() -> None:
        config = "input:\n  http_server: {}\n" + pipeline + OUT
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            posting = asyncio.ensure_future(client.post(srv.http + "/post", content=b"hello"))
            batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            assert [m.raw for m in batch] == [b"hello"]
            await asyncio.sleep(0.2)
            assert not posting.done()  # the output has not confirmed yet
            await ack(None)
            response = await asyncio.wait_for(posting, 5)
            assert response.status_code == 200
            assert response.content == b""

    run(main())


@PATHS
def test_failed_delivery_is_a_502_problem(run, pipeline: str) -> None:
    async def main() -> httpx.Response:
        config = "input:\n  http_server: {}\n" + pipeline + OUT
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            posting = asyncio.ensure_future(client.post(srv.http + "/post", content=b"doomed"))
            _, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            await ack(RuntimeError("the broker said no"))
            response = await asyncio.wait_for(posting, 5)
            assert srv.component("input").stats["failed"] == 1
            return response

    response = run(main())
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "the broker said no" in response.json()["detail"]


@PATHS
def test_undelivered_within_timeout_is_504(run, pipeline: str) -> None:
    async def main() -> httpx.Response:
        async with serving("input:\n  http_server:\n    timeout: 100ms\n" + pipeline + OUT) as srv:
            async with httpx.AsyncClient(timeout=5) as client:
                posting = asyncio.ensure_future(client.post(srv.http + "/post", content=b"late"))
                _, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                response = await asyncio.wait_for(posting, 5)
                await ack(None)
                return response

    response = run(main())
    assert response.status_code == 504
    assert response.json()["title"] == "Gateway Timeout"


def test_a_post_while_the_output_is_busy_is_queued_and_answered_on_its_own_ack(run) -> None:
    # inproc takes one write at a time: the first POST goes straight to the output, the second waits for the
    # stream's read loop, and each is answered only once its own message was acked.
    async def main() -> None:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv, httpx.AsyncClient(timeout=5) as client:
            first = asyncio.ensure_future(client.post(srv.http + "/post", content=b"one"))
            batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            assert [m.raw for m in batch] == [b"one"]
            second = asyncio.ensure_future(client.post(srv.http + "/post", content=b"two"))
            await until(lambda: srv.component("input").stats["pending"] == 2, what="the second POST to wait")
            await ack(None)
            assert (await asyncio.wait_for(first, 5)).status_code == 200
            batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            assert [m.raw for m in batch] == [b"two"]
            await asyncio.sleep(0.1)
            assert not second.done()
            await ack(None)
            assert (await asyncio.wait_for(second, 5)).status_code == 200
            assert srv.component("input").stats["delivered"] == 2

    run(main())


@PATHS
def test_posted_messages_are_counted_and_timed_by_the_stream_on_either_path(run, pipeline: str) -> None:
    async def main() -> None:
        async with serving("input:\n  http_server: {}\n" + pipeline + "output:\n  drop: {}\n") as srv:
            stream = next(iter(srv.manager.streams.values()))
            stream.measure()
            async with httpx.AsyncClient(timeout=5) as client:
                for body in (b"one", b"two"):
                    assert (await client.post(srv.http + "/post", content=body)).status_code == 200
            assert (stream.read_batches, stream.read_messages, stream.output.written_messages) == (2, 2, 2)
            assert stream.latency is not None and stream.latency.count == 2

    run(main())


def test_body_over_max_body_bytes_is_413(run) -> None:
    async def main() -> list[httpx.Response]:
        async with serving("input:\n  http_server:\n    max_body_bytes: 10\n" + OUT) as srv:
            async with httpx.AsyncClient(timeout=5) as client:
                too_big = await client.post(srv.http + "/post", content=b"x" * 11)

                async def chunks():  # type: ignore[no-untyped-def]
                    for _ in range(4):
                        yield b"abc"  # no Content-Length: counted as it arrives

                too_big_chunked = await client.post(srv.http + "/post", content=chunks())
                posting = asyncio.ensure_future(client.post(srv.http + "/post", content=b"x" * 10))
                _, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                await ack(None)
                return [too_big, too_big_chunked, await posting]

    too_big, too_big_chunked, fits = run(main())
    assert too_big.status_code == 413 and too_big.json()["status"] == 413
    assert too_big_chunked.status_code == 413
    assert fits.status_code == 200


def test_multipart_post_is_one_batch(run) -> None:
    async def main() -> list[Message]:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv, httpx.AsyncClient(timeout=5) as client:
            body = (b"--XyZ\r\nContent-Type: text/plain\r\nX-Part: 1\r\n\r\nfirst\r\n"
                    b"--XyZ\r\nContent-Type: application/json\r\n\r\n{\"n\":2}\r\n"
                    b"--XyZ\r\n\r\nthird\r\nline\r\n--XyZ--\r\n")
            posting = asyncio.ensure_future(client.post(
                srv.http + "/post", content=body, headers={"Content-Type": "multipart/mixed; boundary=XyZ"}))
            batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            await ack(None)
            assert (await posting).status_code == 200
            return batch

    batch = run(main())
    assert [m.raw for m in batch] == [b"first", b'{"n":2}', b"third\r\nline"]
    assert batch[0].meta["X-Part"] == "1" and batch[0].meta["Content-Type"] == "text/plain"
    assert batch[1].meta["Content-Type"] == "application/json"


def test_malformed_multipart_is_400(run) -> None:
    async def main() -> httpx.Response:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.post(srv.http + "/post", content=b"no parts here",
                                     headers={"Content-Type": "multipart/mixed; boundary=XyZ"})

    response = run(main())
    assert response.status_code == 400
    assert "multipart" in response.json()["detail"]


def test_metadata_from_headers_query_and_request(run) -> None:
    async def main() -> Message:
        async with serving("input:\n  http_server:\n    path: /in\n" + OUT) as srv:
            async with httpx.AsyncClient(timeout=5) as client:
                posting = asyncio.ensure_future(client.post(
                    srv.http + "/in?user=alice&user=bob&x=1", content=b"{}",
                    headers={"X-Request-Id": "r-1", "User-Agent": "tester/1", "Cookie": "session=s1"}))
                batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                await ack(None)
                await posting
                return batch[0]

    msg = run(main())
    assert msg.meta["X-Request-Id"] == "r-1"
    assert msg.meta["user"] == "alice" and msg.meta["x"] == "1"
    assert msg.meta["session"] == "s1"
    assert msg.meta["http_server_user_agent"] == "tester/1"
    assert msg.meta["http_server_verb"] == "POST"
    assert msg.meta["http_server_request_path"] == "/in"
    assert msg.meta["http_server_remote_ip"] == "127.0.0.1"


def test_prefix_metadata_keys(run) -> None:
    async def main() -> Message:
        async with serving("input:\n  http_server:\n    prefix_metadata_keys: true\n" + OUT) as srv:
            async with httpx.AsyncClient(timeout=5) as client:
                posting = asyncio.ensure_future(client.post(srv.http + "/post?user=alice", content=b"x",
                                                            headers={"X-Foo": "bar"}))
                batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                await ack(None)
                await posting
                return batch[0]

    msg = run(main())
    assert msg.meta["header_X-Foo"] == "bar" and msg.meta["query_user"] == "alice"
    assert "user" not in msg.meta


def test_other_verbs_are_405(run) -> None:
    async def main() -> httpx.Response:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.get(srv.http + "/post")

    response = run(main())
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_rate_limit_answers_429(run) -> None:
    config = ("rate_limit_resources:\n  - label: two\n    local: { count: 2, interval: 1h }\n"
              "input:\n  http_server: { rate_limit: two }\n" + OUT)

    async def main() -> list[int]:
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            statuses = []
            for _ in range(3):
                posting = asyncio.ensure_future(client.post(srv.http + "/post", content=b"x"))
                if len(statuses) < 2:
                    _, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                    await ack(None)
                response = await posting
                statuses.append(response.status_code)
            assert int(response.headers["retry-after"]) >= 1
            return statuses

    assert run(main()) == [200, 200, 429]


def test_a_stopping_stream_answers_503_and_still_delivers_what_it_took(run) -> None:
    async def main() -> tuple[httpx.Response, httpx.Response]:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv, httpx.AsyncClient(timeout=5) as client:
            first = asyncio.ensure_future(client.post(srv.http + "/post", content=b"in flight"))
            _, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            srv.manager.stop()  # the stream drains the first message; it reads nothing new
            await until(lambda: not srv.component("input").accepting, what="the input to notice")
            late = await client.post(srv.http + "/post", content=b"too late")
            await ack(None)
            return await first, late

    first, late = run(main())
    assert first.status_code == 200
    assert late.status_code == 503
    assert late.json()["title"] == "Service Unavailable"


def test_websocket_publisher_messages_are_delivered(run) -> None:
    async def main() -> list[bytes]:
        config = "input:\n  http_server:\n    ws_path: /pub\n    ws_welcome_message: hi\n" + OUT
        async with serving(config) as srv, connect(srv.ws + "/pub") as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == b"hi"
            await ws.send(b"one")
            await ws.send("two")
            got = []
            for _ in range(2):
                batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                got.extend(m.raw for m in batch)
                await ack(None)
            assert got[0:1] == [b"one"]
            return got

    assert run(main()) == [b"one", b"two"]


def test_websocket_publisher_message_is_resent_after_a_nack(run) -> None:
    async def main() -> list[bytes]:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv, connect(srv.ws + "/post/ws") as ws:
            await ws.send(b"again")
            got = []
            batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            await ack(RuntimeError("not now"))
            batch2, ack2 = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
            await ack2(None)
            got = [m.raw for m in batch + batch2]
            return got

    assert run(main()) == [b"again", b"again"]


# -- sync_response ------------------------------------------------------------------------
def test_sync_response_returns_the_mapped_message(run) -> None:
    config = ("input:\n  http_server:\n    sync_response:\n      headers:\n        Content-Type: text/plain\n"
              "        X-Len: '${! content().length() }'\n"
              "pipeline:\n  processors:\n    - mapping: root = content().uppercase()\n"
              "output:\n  sync_response: {}\n")

    async def main() -> httpx.Response:
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.post(srv.http + "/post", content=b"hello")

    response = run(main())
    assert response.status_code == 200
    assert response.content == b"HELLO"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["x-len"] == "5"


def test_sync_response_inside_a_fan_out_broker(run) -> None:
    config = ("input:\n  http_server: {}\n"
              "pipeline:\n  processors:\n    - mapping: |\n        meta kind = \"upper\"\n"
              "        root = content().uppercase()\n"
              "output:\n  broker:\n    pattern: fan_out\n    outputs:\n      - drop: {}\n      - sync_response: {}\n")

    async def main() -> httpx.Response:
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.post(srv.http + "/post", content=b"fan me")

    response = run(main())
    assert response.status_code == 200
    assert response.content == b"FAN ME"
    assert response.headers["content-type"] == "application/octet-stream"


def test_sync_response_status_and_metadata_headers(run) -> None:
    config = ("input:\n  http_server:\n    sync_response:\n      status: '${! meta(\"code\") }'\n"
              "      metadata_headers:\n        include_prefixes: [out_]\n"
              "pipeline:\n  processors:\n    - mapping: |\n        meta code = \"201\"\n"
              "        meta out_id = \"42\"\n        root = this.merge({\"ok\": true})\n"
              "output:\n  sync_response: {}\n")

    async def main() -> httpx.Response:
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.post(srv.http + "/post", content=b'{"a":1}')

    response = run(main())
    assert response.status_code == 201
    assert response.headers["out_id"] == "42"
    assert response.json() == {"a": 1, "ok": True}


def test_sync_response_of_a_multipart_batch_is_multipart(run) -> None:
    config = ("input:\n  http_server: {}\n"
              "pipeline:\n  processors:\n    - mapping: root = content().uppercase()\n"
              "output:\n  sync_response: {}\n")

    async def main() -> httpx.Response:
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            body = b"--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n"
            return await client.post(srv.http + "/post", content=body,
                                     headers={"Content-Type": "multipart/form-data; boundary=b"})

    response = run(main())
    assert response.status_code == 200
    raw = b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert [p.get_payload(decode=True) for p in message.iter_parts()] == [b"ONE", b"TWO"]


def test_sync_response_over_the_websocket(run) -> None:
    config = ("input:\n  http_server: {}\n"
              "pipeline:\n  processors:\n    - mapping: root = content().uppercase()\n"
              "output:\n  sync_response: {}\n")

    async def main() -> list[bytes | str]:
        async with serving(config) as srv, connect(srv.ws + "/post/ws") as ws:
            await ws.send(b"echo")
            await ws.send(b"back")
            return [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)]

    assert run(main()) == [b"ECHO", b"BACK"]


def test_without_a_sync_response_the_answer_is_empty_200(run) -> None:
    config = "input:\n  http_server: {}\noutput:\n  drop: {}\n"

    async def main() -> httpx.Response:
        async with serving(config) as srv, httpx.AsyncClient(timeout=5) as client:
            return await client.post(srv.http + "/post", content=b"gone")

    response = run(main())
    assert (response.status_code, response.content) == (200, b"")


# -- the reply link -----------------------------------------------------------------------
def test_the_reply_link_survives_copies_mappings_filters_and_splits() -> None:
    link = object()
    msg = Message(b"a")
    msg.reply = link
    assert msg.copy().reply is link
    assert Message(b"x").reply is None and Message.from_structured({}).reply is None
    before = [msg]
    after = [Message(b"A")]
    carry_replies(before, after)
    assert after[0].reply is link
    split = [Message(b"1"), Message(b"2")]
    carry_replies(before, split)
    assert [m.reply for m in split] == [link, link]
    other = Message(b"b")  # a batch mixing two requests that a processor shrank: no guessing
    shrunk = [Message(b"?")]
    carry_replies([msg, other], shrunk)
    assert shrunk[0].reply is None


# -- building -------------------------------------------------------------------------------
def test_without_an_http_server_the_component_cannot_be_built() -> None:
    config = load_text("input:\n  http_server: {}\noutput:\n  drop: {}\n", "t.yaml", {})
    ctx = BuildContext(stream="main", resources={}, hub=InprocHub())
    with pytest.raises(ComponentError, match="asyncgate run"):
        ctx.build_input(config.streams["main"].input)


def test_two_components_on_one_path_is_a_build_error() -> None:
    manager = Manager(load("streams:\n  a:\n    input:\n      http_server: {}\n    output:\n      drop: {}\n"
                           "  b:\n    input:\n      http_server: {}\n    output:\n      drop: {}\n"))
    with pytest.raises(ComponentError, match="/post is already served by stream a"):
        manager.build()


def test_spec_examples_load() -> None:
    for kind, name in (("input", "http_server"), ("output", "http_server"), ("output", "sync_response")):
        spec = registry.get(kind, name)  # type: ignore[arg-type]
        assert spec is not None and spec.examples and len(spec.description) > 200
        for example in spec.examples:
            text = example
            if "input:" not in text:
                text = "input:\n  inproc: in\n" + text
            if "output:" not in text:
                text += "\noutput:\n  drop: {}\n"
            load(text)


def test_input_is_an_http_server_input(run) -> None:
    async def main() -> None:
        async with serving("input:\n  http_server: {}\n" + OUT) as srv:
            assert isinstance(srv.component("input"), HttpServerInput)

    run(main())


def test_websocket_publishers_rate_limit_size_limit_and_close_clients(run) -> None:
    import websockets

    config = ("rate_limit_resources:\n  - label: one\n    local: { count: 1, interval: 1h }\n"
              "input:\n  http_server:\n    rate_limit: one\n    ws_rate_limit_message: slow down\n"
              "    max_body_bytes: 8\n" + OUT)

    async def main() -> None:
        async with serving(config) as srv:
            component = srv.component("input")
            async with connect(srv.ws + "/post/ws") as ws:
                await ws.send(b"first")
                batch, ack = await asyncio.wait_for(srv.manager.hub.receive("out"), 5)
                await ack(None)
                await ws.send(b"second")  # over the rate limit: dropped, and told
                assert await asyncio.wait_for(ws.recv(), 5) == b"slow down"
                assert component.stats["ws_rate_limited"] == 1
            async with connect(srv.ws + "/post/ws") as ws:
                await ws.send(b"much too large")
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            async with connect(srv.ws + "/post/ws") as ws:
                await until(lambda: component.stats["ws_clients"] == 1)
                assert component.close_clients(1001, "API deleted") == 1
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "API deleted")
                assert await component.wait_clients_closed(5)
            assert [m.raw for m in batch] == [b"first"]

    run(main())
