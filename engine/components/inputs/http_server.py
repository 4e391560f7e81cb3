"""The `http_server` input: messages POSTed over HTTP, or sent over a WebSocket.

A POST is answered only once its message(s) were delivered downstream (the ack came back):
200 with an empty body, or with the synchronous response built by a `sync_response` output;
502 with a JSON problem body when delivery failed (a nack: the client gets the error, nothing is
redelivered), 504 when `timeout` passed first (the message may still be delivered, as in Bento),
503 while the stream is stopping or stopped, 413 over `max_body_bytes`, 429 when the
`rate_limit` is exhausted, 405 for a verb not in `allowed_verbs`.

Each WebSocket message is a message; it is delivered before the next one is read (backpressure
on that socket), re-sent with backoff when delivery fails, and a synchronous response is sent
back over the socket.

For the gateway: `stats`, `close_clients(code, reason)` (closes the WebSocket publishers) and
`wait_clients_closed()`, as on the http_server output.
"""

from __future__ import annotations

import asyncio
import collections
import math
import re
from typing import Any

from ... import spec as s
from ...component import AckFn, Input
from ...errors import ComponentError
from ...message import Batch, Message
from ...registry import register
from ...runtime.http import Receive, Scope, Send, send_problem
from ...runtime.stream import InlineDelivery
from .._http import (
    BodyTooLarge,
    ClientGone,
    Cors,
    cors_field,
    encode_multipart,
    header,
    method_not_allowed,
    read_body,
    request_metadata,
    safe_header_value,
    split_multipart,
)

_STOPPED: Any = object()
_TIMED_OUT: Any = object()
WS_RETRY_START = 0.05
WS_RETRY_MAX = 2.0
CLOSE_WAIT = 5.0


class SyncResults:
    """Where `sync_response` outputs put the messages that answer one request (`Message.reply`)."""

    __slots__ = ("messages",)

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def add(self, msg: Message) -> None:
        self.messages.append(msg)


class _Request:
    __slots__ = ("batch", "future")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        # Settled with None (delivered), the error (not delivered), _STOPPED or _TIMED_OUT.
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class _WsPublisher:
    __slots__ = ("closing", "remote")

    def __init__(self, remote: str) -> None:
        self.closing: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.remote = remote

    def close(self, code: int, reason: str) -> None:
        if not self.closing.done():
            self.closing.set_result((code, reason))


class HttpServerInput(Input):
    # Acks and nacks go back to the HTTP client; nothing is redelivered by the runtime.
    supports_nack = True

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        if ctx.routes is None:
            raise ValueError("http_server needs an HTTP server to register its endpoints on: run the config "
                             "with `asyncgate run` (served on http.address) or `asyncgate serve` (the gateway)")
        self.routes = ctx.routes
        self.path: str = conf["path"]
        self.ws_path: str = conf["ws_path"]
        if not (self.path or self.ws_path):
            raise ValueError("path and ws_path are both empty: no endpoint to serve")
        self.ws_welcome = conf["ws_welcome_message"].encode()
        self.ws_rate_limit_message = conf["ws_rate_limit_message"].encode()
        self.allowed_verbs = [v.upper() for v in conf["allowed_verbs"]]
        if not self.allowed_verbs:
            raise ValueError("allowed_verbs: at least one verb is required")
        self.timeout: float = conf["timeout"]
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        self.max_body_bytes: int = conf["max_body_bytes"]
        if self.max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative (0: no limit)")
        self.prefix_metadata_keys: bool = conf["prefix_metadata_keys"]
        self.cors = Cors(conf["cors"])
        self.rate_limit_label: str = conf["rate_limit"]
        self.limiter: Any = None
        if self.rate_limit_label:
            try:
                self.limiter = ctx.rate_limit(self.rate_limit_label)
            except ComponentError as exc:
                if self.rate_limit_label in getattr(ctx, "rate_limit_configs", {}):
                    raise
                text, prefix = str(exc), f"{exc.where}: "
                raise ValueError(text.removeprefix(prefix)) from None
        self.sync = _SyncResponse(conf["sync_response"])

        self._queue: collections.deque[_Request] = collections.deque()
        self._taken: set[_Request] = set()
        self._waiter: asyncio.Future[None] | None = None
        self._stopping = False
        self._closed = False
        self._publishers: set[_WsPublisher] = set()
        self._handlers: set[asyncio.Future[Any]] = set()
        self._inline: InlineDelivery | None = None
        self.counters = {"requests": 0, "messages": 0, "delivered": 0, "failed": 0, "timeouts": 0,
                         "rejected": 0, "ws_connections_total": 0, "ws_messages": 0, "ws_rate_limited": 0}

    def bind(self, component: Any, ctx: Any) -> None:
        super().bind(component, ctx)
        owner = f"stream {ctx.stream}: {self.where}"
        try:
            if self.path:
                self.routes.add(self.path, self._post_app, kind="http", owner=owner)
            if self.ws_path:
                self.routes.add(self.ws_path, self._ws_app, kind="websocket", owner=owner)
        except ValueError as exc:
            self.routes.remove_owner(owner)
            raise ComponentError(self.where, str(exc)) from None

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        return [(k, p) for k, p in (("post", self.path), ("ws", self.ws_path)) if p]

    @property
    def stats(self) -> dict[str, Any]:
        return {"ws_clients": len(self._publishers), "pending": len(self._queue) + len(self._taken),
                **self.counters}

    # -- the stream side -----------------------------------------------------------
    async def read(self) -> tuple[Batch, AckFn]:
        self._stopping = False
        queue = self._queue
        while True:
            while queue:
                req = queue.popleft()
                if req.future.done():
                    continue  # the client gave up before the stream took it
                self._taken.add(req)
                return req.batch, self._ack_for(req)
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            except asyncio.CancelledError:
                # The stream stopped reading: what is queued will not be read; answer it now.
                self._stopping = True
                self._fail_queued()
                raise
            finally:
                self._waiter = None

    def _ack_for(self, req: _Request) -> AckFn:
        async def ack(error: BaseException | None) -> None:
            self._taken.discard(req)
            if not req.future.done():
                req.future.set_result(error)
        return ack

    def deliver_inline(self, delivery: InlineDelivery | None) -> None:
        """What the stream lends while it runs (None once it stops): POSTed batches go through it to the
        output when it is ready, queued for `read` otherwise."""
        self._inline = delivery

    def _submit(self, req: _Request) -> None:
        self._queue.append(req)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail_queued(self) -> None:
        while self._queue:
            req = self._queue.popleft()
            if not req.future.done():
                req.future.set_result(_STOPPED)

    def close_clients(self, code: int = 1001, reason: str = "going away") -> int:
        """Close every WebSocket publisher with CODE and REASON; returns how many."""
        publishers = list(self._publishers)
        for publisher in publishers:
            publisher.close(code, reason)
        return len(publishers)

    async def wait_clients_closed(self, timeout: float = CLOSE_WAIT) -> bool:
        if not self._handlers:
            return True
        _, pending = await asyncio.wait(set(self._handlers), timeout=timeout)
        return not pending

    async def close(self) -> None:
        self._closed = True
        self._fail_queued()
        for req in list(self._taken):  # the stream is done: these will never be settled
            if not req.future.done():
                req.future.set_result(_STOPPED)
        self._taken.clear()
        self.close_clients(1001, "stream stopped")
        await self.wait_clients_closed()

    @property
    def accepting(self) -> bool:
        return not (self._closed or self._stopping)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    # -- POST --------------------------------------------------------------------------
    async def _post_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors.is_preflight(scope):
            await self.cors.preflight(scope, send)
            return
        cors = self.cors.headers(scope)
        method = scope.get("method", "POST")
        if method not in self.allowed_verbs:
            self.counters["rejected"] += 1
            await method_not_allowed(send, method, self.allowed_verbs, cors)
            return
        if not self.accepting:
            self.counters["rejected"] += 1
            await send_problem(send, 503, "Service Unavailable", "the stream is stopped", headers=cors)
            return
        if self.limiter is not None:
            wait = await self._rate_limited()
            if wait:
                self.counters["rejected"] += 1
                await send_problem(send, 429, "Too Many Requests", "rate limit exceeded",
                                   headers=[(b"retry-after", str(max(1, math.ceil(wait))).encode()), *cors])
                return
        try:
            body = await read_body(scope, receive, self.max_body_bytes)
        except BodyTooLarge as exc:
            self.counters["rejected"] += 1
            await send_problem(send, 413, "Content Too Large",
                               f"the request body is larger than max_body_bytes ({exc.limit} bytes)", headers=cors)
            return
        except ClientGone:
            return
        meta = request_metadata(scope, self.prefix_metadata_keys)
        content_type = header(scope, b"content-type")
        try:
            parts = split_multipart(body, content_type.decode("latin-1")) if content_type else None
        except ValueError as exc:
            self.counters["rejected"] += 1
            await send_problem(send, 400, "Bad Request", str(exc), headers=cors)
            return
        results = SyncResults()
        if parts is None:
            batch = [Message(body, meta)]
        else:
            batch = [Message(payload, {**meta, **part_headers}) for part_headers, payload in parts]
        for msg in batch:
            msg.reply = results
        self.counters["requests"] += 1
        self.counters["messages"] += len(batch)
        req = _Request(batch)
        # A timer rather than asyncio.wait: settled first, the request is skipped by `read` if not taken yet.
        expiry = asyncio.get_running_loop().call_later(self.timeout, _expire, req.future)
        try:
            inline = self._inline
            if inline is not None and inline.ready():
                self._taken.add(req)
                inline(batch, self._ack_for(req))
            else:
                self._submit(req)
            outcome = await req.future  # a cancelled request cancels it: if not read yet, it will not be
        finally:
            expiry.cancel()
        if outcome is _TIMED_OUT:
            self.counters["timeouts"] += 1
            await send_problem(send, 504, "Gateway Timeout",
                               f"the message was not delivered within {self.timeout:g}s; it may still be delivered",
                               headers=cors)
            return
        if outcome is _STOPPED:
            self.counters["failed"] += 1
            await send_problem(send, 503, "Service Unavailable",
                               "the stream stopped before the message was delivered", headers=cors)
            return
        if outcome is not None:
            self.counters["failed"] += 1
            await send_problem(send, 502, "Bad Gateway", f"the message was not delivered: {outcome}", headers=cors)
            return
        self.counters["delivered"] += 1
        status, headers, body_out = self.sync.response(results.messages, self.log)
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body_out)).encode()), *cors]})
        await send({"type": "http.response.body", "body": body_out})

    async def _rate_limited(self) -> float:
        try:
            return float(await self.limiter.access() or 0.0)
        except Exception as exc:  # noqa: BLE001 - a failing limiter lets nobody through, for a second
            self.log.error('failed to access rate limit "%s": %s', self.rate_limit_label, exc)
            return 1.0

    # -- WebSocket ------------------------------------------------------------------------
    async def _ws_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        self._track()
        await send({"type": "websocket.accept"})
        if not self.accepting:
            await send({"type": "websocket.close", "code": 1001, "reason": "stream stopped"})
            return
        client = scope.get("client")
        publisher = _WsPublisher(f"{client[0]}:{client[1]}" if client else "")
        self._publishers.add(publisher)
        self.counters["ws_connections_total"] += 1
        meta = request_metadata(scope, self.prefix_metadata_keys)
        close: tuple[int, str] | None = None
        try:
            if self.ws_welcome:
                await send({"type": "websocket.send", "bytes": self.ws_welcome})
            while close is None:
                incoming = asyncio.ensure_future(receive())
                await asyncio.wait((incoming, publisher.closing), return_when=asyncio.FIRST_COMPLETED)
                if not incoming.done():
                    incoming.cancel()
                    close = publisher.closing.result()
                    break
                message = incoming.result()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is None:
                    data = (message.get("text") or "").encode()
                if self.max_body_bytes and len(data) > self.max_body_bytes:
                    close = (1009, f"message larger than max_body_bytes ({self.max_body_bytes} bytes)")
                    break
                self.counters["ws_messages"] += 1
                self.counters["messages"] += 1
                if self.limiter is not None and await self._rate_limited():
                    self.counters["ws_rate_limited"] += 1
                    if self.ws_rate_limit_message:
                        await send({"type": "websocket.send", "bytes": self.ws_rate_limit_message})
                    continue
                close = await self._deliver_ws(data, meta, publisher, send)
        except Exception as exc:  # noqa: BLE001 - the socket broke: nothing to answer
            self.log.debug("websocket publisher %s: %s", publisher.remote, exc)
            return
        finally:
            self._publishers.discard(publisher)
        if close is not None:
            try:
                await asyncio.wait_for(send({"type": "websocket.close", "code": close[0], "reason": close[1]}), 1.0)
            except Exception:  # noqa: BLE001, S110 - the client is stuck or gone
                pass

    async def _deliver_ws(self, data: bytes, meta: dict[str, Any], publisher: _WsPublisher,
                          send: Send) -> tuple[int, str] | None:
        """Deliver one WebSocket message, re-sending it until delivered; a close to send, or None."""
        attempt = 0
        while True:
            if not self.accepting:
                return (1001, "stream stopped")
            results = SyncResults()
            msg = Message(data, dict(meta))
            msg.reply = results
            req = _Request([msg])
            self._submit(req)
            await asyncio.wait((req.future, publisher.closing), return_when=asyncio.FIRST_COMPLETED)
            if not req.future.done():
                req.future.cancel()
                return publisher.closing.result()
            outcome = req.future.result()
            if outcome is _STOPPED:
                return (1001, "stream stopped")
            if outcome is None:
                self.counters["delivered"] += 1
                for reply in results.messages:
                    await send({"type": "websocket.send", "bytes": reply.raw})
                return None
            self.counters["failed"] += 1
            delay = min(WS_RETRY_START * 2 ** attempt, WS_RETRY_MAX)
            attempt += 1
            self.log.warning("websocket message from %s not delivered, retrying in %.2fs: %s",
                             publisher.remote or "?", delay, outcome)
            sleep = asyncio.ensure_future(asyncio.sleep(delay))
            await asyncio.wait((sleep, publisher.closing), return_when=asyncio.FIRST_COMPLETED)
            if publisher.closing.done():
                sleep.cancel()
                return publisher.closing.result()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


class _SyncResponse:
    """Bento's `sync_response` block: how the messages of a synchronous response become the HTTP response."""

    def __init__(self, conf: dict[str, Any]) -> None:
        from ...bloblang import compile_interpolation

        self.status_text: str = conf["status"]
        self.status = compile_interpolation(self.status_text)
        self.headers = [(name, compile_interpolation(str(value))) for name, value in (conf["headers"] or {}).items()]
        self.content_type = next((interp for name, interp in self.headers if name.lower() == "content-type"), None)
        meta_headers = conf["metadata_headers"]
        self.meta_prefixes: list[str] = list(meta_headers["include_prefixes"])
        try:
            self.meta_patterns = [re.compile(p) for p in meta_headers["include_patterns"]]
        except re.error as exc:
            raise ValueError(f"sync_response.metadata_headers.include_patterns: {exc}") from None

    def _meta_headers(self, msg: Message) -> list[tuple[bytes, bytes]]:
        if not (self.meta_prefixes or self.meta_patterns) or not msg.has_meta:
            return []
        out = []
        for key, value in msg.meta.items():
            if any(key.startswith(p) for p in self.meta_prefixes) or any(p.search(key) for p in self.meta_patterns):
                text = value if isinstance(value, str) else str(value)
                out.append((key.lower().encode("latin-1", "replace"),
                            safe_header_value(text).encode("latin-1", "replace")))
        return out

    def response(self, messages: list[Message], log: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body) answering a request whose messages were delivered."""
        if not messages:
            return 200, [], b""
        first = messages[0]
        status = 200
        try:
            text = self.status.render(first, messages, 0)
            status = int(text)
            if not 100 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP status")
        except Exception as exc:  # noqa: BLE001 - a bad status is logged, the response still goes out
            log.error("sync_response.status %r: %s; responding 200", self.status_text, exc)
            status = 200
        headers: list[tuple[bytes, bytes]] = []
        for name, interp in self.headers:
            if len(messages) > 1 and interp is self.content_type:
                continue  # each part has its own; the response is multipart
            try:
                value = interp.render(first, messages, 0)
            except Exception as exc:  # noqa: BLE001
                log.error("sync_response.headers.%s: %s", name, exc)
                continue
            headers.append((name.lower().encode("latin-1", "replace"),
                            safe_header_value(value).encode("latin-1", "replace")))
        if len(messages) == 1:
            headers.extend(self._meta_headers(first))
            return status, _dedupe(headers), first.raw
        parts = []
        for index, msg in enumerate(messages):
            headers.extend(self._meta_headers(msg))
            part_type = "application/octet-stream"
            if self.content_type is not None:
                try:
                    part_type = self.content_type.render(msg, messages, index)
                except Exception as exc:  # noqa: BLE001
                    log.error("sync_response.headers.Content-Type: %s", exc)
            parts.append(([("Content-Type", safe_header_value(part_type))], msg.raw))
        content_type, body = encode_multipart(parts)
        headers.append((b"content-type", content_type))
        return status, _dedupe(headers), body


def _dedupe(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The last value of each header name (later settings win, as Header.Set does in Go)."""
    seen: dict[bytes, bytes] = {}
    for name, value in headers:
        seen[name] = value
    return list(seen.items())


_DESCRIPTION = """\
The endpoints are served by `asyncgate run` on the `http.address` server, or by the gateway \
under the API's listen path (`asyncgate serve`). `address`, `cert_file` and `key_file` are not \
supported: every endpoint is served by that shared server. Paths match exactly (path \
parameters are not supported); an empty path disables that endpoint.

## Endpoints

- `path` (default `/post`): the request body is one message. A `multipart/*` body (RFC 1341) \
is a batch, one message per part (each part's headers added to its metadata).
- `ws_path` (default `/post/ws`): each WebSocket message is a batch of one message. It is \
delivered before the next one is read, and re-sent (with backoff) if delivery fails. \
`ws_welcome_message` is sent to each new connection; a message refused by the rate limit is \
dropped and `ws_rate_limit_message` sent back, if set.

## Responses

A request is answered once its messages were delivered downstream (their acknowledgement came \
back): 200, with the synchronous response if the pipeline produced one (a `sync_response` \
output, alone or inside a `broker`): one message as the body, several as `multipart/mixed`, \
with the `sync_response` status and headers (interpolated on the first message) and the \
metadata headers it selects. Otherwise 502 with a JSON problem body (RFC 9457) when delivery \
failed (the client gets the error; nothing is redelivered), 504 when `timeout` passed first (the \
message may still be delivered), 503 while the stream is stopping or stopped, 413 over \
`max_body_bytes`, 429 (with Retry-After) when the `rate_limit` resource has no access left, 405 \
for a verb not in `allowed_verbs`, 400 for a multipart body that does not parse. Over a \
WebSocket, synchronous responses are sent back as messages on the socket.

## Metadata

Each message gets: `http_server_user_agent`, `http_server_request_path`, `http_server_verb`, \
`http_server_remote_ip`, every header (first value, canonical name such as `Content-Type`), every \
query parameter and every cookie. These can collide; `prefix_metadata_keys` prefixes them with \
`header_`, `query_` and `cookie_`."""

register(s.ComponentSpec(
    name="http_server", kind="input", category="network",
    summary="Receive messages POSTed over HTTP, or sent over a WebSocket.",
    description=_DESCRIPTION,
    config=s.obj(
        "http_server", "",
        s.unsupported("address", "An alternative address to host from; AsyncGate serves every endpoint on the "
                                 "shared HTTP server (`http.address`, or the gateway)."),
        s.string("path", "The endpoint path to listen for POST requests. Empty disables it.", "/post"),
        s.string("ws_path", "The endpoint path to create websocket connections from. Empty disables it.",
                 "/post/ws"),
        s.string("ws_welcome_message", "An optional message to deliver to fresh websocket connections.", "",
                 advanced=True),
        s.string("ws_rate_limit_message", "An optional message to deliver to websocket connections that are rate "
                                          "limited.", "", advanced=True),
        s.Field("allowed_verbs", "string", "An array of verbs that are allowed for the `path` endpoint.",
                default=["POST"], kind="list"),
        s.duration("timeout", "How long a request waits for its message to be delivered before it is answered "
                              "504 (the message may still be delivered).", "5s"),
        s.string("rate_limit", "An optional rate limit resource (label) to throttle requests and websocket "
                               "messages by.", ""),
        s.integer("max_body_bytes", "The largest request body (or websocket message) accepted, in bytes; larger "
                                    "ones get 413 (websocket: close 1009). 0 means no limit. An AsyncGate "
                                    "extension.", 1 << 20, advanced=True),
        s.unsupported("cert_file"), s.unsupported("key_file"),
        cors_field(with_methods=True),
        s.obj("sync_response", "Customise messages returned via synchronous responses.",
              s.string("status", "The status code of synchronous responses.", "200", interpolated=True,
                       examples=('${! json("status") }', '${! metadata("status").string() }')),
              s.Field("headers", "string", "Headers of synchronous responses.",
                      default={"Content-Type": "application/octet-stream"}, kind="map", interpolated=True),
              s.obj("metadata_headers", "Which metadata values are added to the response as headers.",
                    s.Field("include_prefixes", "string", "Metadata key prefixes to match.", default=[],
                            kind="list", examples=(["foo_", "bar_"], ["kafka_"])),
                    s.Field("include_patterns", "string", "Metadata key regular expressions to match.",
                            default=[], kind="list", examples=([".*"], ["_timestamp_unix$"])),
                    default={}),
              default={}, advanced=True),
        s.boolean("prefix_metadata_keys", "Prefix metadata keys from headers with `header_`, from query "
                                          "parameters with `query_` and from cookies with `cookie_`.", False,
                  advanced=True),
        s.unsupported("tcp"),
        default={}, allow_scalar=True,
    ),
    factory=lambda conf, ctx: HttpServerInput(conf, ctx),
    examples=(
        "input:\n  http_server:\n    path: /publish\n    ws_path: /publish/ws",
        "# Answer each POST with the processed message:\n"
        "input:\n  http_server:\n    path: /upper\n    sync_response:\n      headers:\n"
        "        Content-Type: text/plain\n"
        "pipeline:\n  processors:\n    - mapping: root = content().uppercase()\n"
        "output:\n  sync_response: {}",
    ),
))
