"""The `http_server` output: subscribers read the stream over WebSocket, a chunked HTTP stream
(raw lines or Server-Sent Events) or long-poll GETs.

Distribution. The clients connected to the output's endpoints (all kinds together) form one
consumer group:

- `fan_out: round_robin` (default, Bento/Tyk semantics): each batch goes to exactly one client,
  the next in rotation that has room in its send buffer (a client whose buffer is full is passed
  over, so a slow client takes fewer messages and never holds the others up). With no client
  connected, or every buffer full, `write` waits: the stream holds until a consumer can take the
  message (backpressure), and a stream shutdown cancels the wait (a nack).
- `fan_out: broadcast` (our extension): every connected client gets every message. The frame of
  each endpoint kind (WebSocket payload, SSE event, raw line) is built once per message and the
  same object is queued to every client of that kind. With no client connected, `write` waits
  for the first subscriber, as in round_robin: a message is never silently dropped for want of
  a listener.

Acknowledgement. A write is acknowledged once its frames are queued to the client(s), not once
the client's socket took them (Bento: "there is no concept of at least once delivery on this
output"). What a client's buffer still holds when it disconnects is counted in `discarded`.

Slow consumers. Each client has a bounded send buffer (`send_buffer` messages): a plain client's
drained by its own sender, a framed WebSocket client's backlog (below) by a task that exists only
while it is backed up, so one slow client never delays another. When a broadcast message does not fit:
`slow_consumer: disconnect` closes that client (WebSocket close 1008 "slow consumer: send buffer
full"; a chunked stream simply ends) and `drop_oldest` drops its oldest queued messages to make
room. Both are counted in `stats`.

For the gateway: `stats` (a dict of counters), `close_clients(code, reason)` (synchronous; closes
every subscriber, WebSocket clients with CODE) then `await wait_clients_closed()`, and
`subscribe(kind)` / `unsubscribe(sub)` to serve subscribers without the ASGI handlers here.
`engine.components._http.http_components(routes)` finds the components behind a route table.

Message rates. A subscriber may be given a message rate (engine/runtime/message_rate.py: the gateway
passes one in `scope["asyncgate"]["message_rate"]` from the API's `x-asyncgate-message-rate` or the key's
`message_rate`/`message_per`): at most RATE messages in any PER seconds are sent to it, checked once per
batch (for a framed WebSocket client in broadcast: once per write of the writer, which may carry several).
In broadcast, the messages over its rate are dropped for that subscriber (`action: drop`, counted in
`rate_dropped`) or it is closed (`action: close`: WebSocket close 1008 naming the rate, a chunked
stream ends; counted in `rate_closed`), after what fitted was sent. In round_robin no message is lost: a
subscriber over its rate is passed over like one whose buffer is full, the batch (or what of it does
not fit) goes to the next one, and while every subscriber is over its rate or full, `write` waits until
one has room again. Long-polls have no message rate (each is one request, rate-limited as such).

Pre-framed WebSocket sends. Where the server offers the `asyncgate.websocket.frames` ASGI extension
(engine/runtime/ws_frames.py: `asyncgate serve` and `asyncgate run` install it into Hypercorn), a
WebSocket subscriber is `framed`: the output writes complete WebSocket frames to its connection itself,
instead of one `websocket.send` per message that the server frames per connection. Only the data frames
bypass the server's framing (the handshake, close, ping/pong stay the server's).

- One writer per output (a task, woken by writes) writes to every framed subscriber. In broadcast, each
  message's frame is built once; the writer joins what is pending once (at most FRAMES_PER_WRITE frames)
  and hands the same bytes to every caught-up subscriber with the extension's synchronous `write`
  (engine/_fast fanout.dispatch: the loop over the subscribers, compiled). In round robin, a batch
  handed to a caught-up subscriber is written at once with `write` when, in rotation, its batches come
  further apart than COALESCE_WINDOW; else it waits in the subscriber's `pending` list and the writer
  writes it joined with what else came for that subscriber.
- Each write is a syscall (on loopback it also runs the receiver's side), so writes are coalesced:
  while messages arrive less than COALESCE_WINDOW (1 ms) apart, the woken writer waits that long before
  it writes, and one write carries what came meanwhile; while they come about as fast as the writer can
  flush (hundreds of subscribers: a flush takes milliseconds), it waits as long as its last flush took
  (at most COALESCE_MAX), so the stream gets the time to make the next messages and a flush carries
  them all; at lower rates each message leaves at once.
- A subscriber whose connection cannot take a write now (`write` returns False: the server is sending
  on it, or its write buffer is over the high-water mark) gets the frames in its own backlog (`buffer`:
  bounded by `send_buffer`, with the slow-consumer policy), drained with the extension's awaited `send`
  by a task that exists only while there is a backlog; everything for it goes through the backlog until
  it is empty, so its frames stay in order. Without a sync `write` (a server, or a wrapper, that offers
  only `send`) every frame goes this way, and that task stays while frames keep coming (DRAIN_LINGER).
- An idle framed subscriber is its handler alone: one coroutine awaiting `receive()` (what the client
  sends is ignored), no task or buffer of its own. A server-side close (slow consumer, message rate,
  stream stopped, `close_clients`) sets `closing` and wakes the handler with a cancel it recognises
  (`Subscriber.wake`); it waits for its backlog to be written (flush, at most CLOSE_FLUSH_TIMEOUT) and
  sends the close frame. A write that fails means the client is gone: no close frame is sent then.

Buffers, the slow-consumer policy, close codes and counters are the same on both paths. Without the
extension (another server, or the gateway embedded in someone else's app) the plain ASGI path is used:
a sender task per subscriber, as for chunked streams.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Mapping
from typing import Any, Literal

from ... import spec as s
from ..._fast import fanout, framing
from ...component import Output
from ...errors import ComponentError
from ...message import Batch
from ...registry import register
from ...runtime.http import SUBSCRIBER_HOOK, Receive, Scope, Send, send_problem
from ...runtime.message_rate import MessageRate, MessageWindow
from ...runtime.ws_frames import EXTENSION as WS_FRAMES_EXTENSION
from .._http import CORS_FIELD, Cors, encode_multipart, method_not_allowed

SubscriberKind = Literal["ws", "stream", "poll"]
SLOW_CONSUMER_REASON = "slow consumer: send buffer full"
# How long a closing client may take to flush what it was sent before it is cut off, and how long
# its close frame (or the end of its response) may take to be written.
CLOSE_FLUSH_TIMEOUT = 5.0
CLOSE_SEND_TIMEOUT = 1.0
HEARTBEAT = b": heartbeat\n\n"
# The most pre-framed WebSocket frames a framed subscriber's sender joins into one write.
FRAMES_PER_WRITE = 1024
# While messages come less than this far apart, the writer waits this long after being woken before it
# writes, so that one write carries what arrived meanwhile (see the module docstring).
COALESCE_WINDOW = 0.001
# The longest the writer waits for more when its flushes are what holds the messages up (many subscribers).
COALESCE_MAX = 0.02
# How long a framed subscriber's backlog task waits for more before it ends, when the server offers no sync
# `write` (every frame then goes through it): a task per subscriber while the stream is busy, none once idle.
DRAIN_LINGER = 0.05
_CLOSED: Any = object()
# The `closing` of a framed subscriber whose connection failed: its handler sends no close frame.
_GONE = (1006, "connection lost")


class Subscriber:
    """One connected client.

    Frames are `bytes` (WebSocket binary payloads, SSE events, raw lines, complete WebSocket frames) or
    `str` (WebSocket text payloads); a long-poll subscriber instead gets one batch through `future`.
    A plain subscriber's frames queue in `buffer`, drained by its own sender. A framed WebSocket
    subscriber is written to by the output's writer; `buffer` is its backlog, None while it is caught
    up (see the module docstring)."""

    __slots__ = (
        "_timer",
        "_waiter",
        "buffer",
        "bytes_written",
        "closing",
        "delivered",
        "draining",
        "framed",
        "future",
        "kind",
        "limit",
        "listening",
        "pending",
        "remote",
        "send",
        "sending",
        "task",
        "window",
        "write",
    )

    def __init__(self, kind: SubscriberKind, limit: int, remote: str = "", message_rate: MessageRate | None = None,
                 frames: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self.framed = frames is not None
        self.buffer: collections.deque[Any] | None = None if self.framed else collections.deque()
        self.limit = limit
        self.remote = remote
        self.closing: tuple[int, str] | None = None
        self.sending = False
        # A plain subscriber's sender; a framed subscriber's handler (woken by a cancel for a server-side close).
        self.task: asyncio.Task[Any] | None = None
        self.delivered = 0
        self.bytes_written = 0  # framed only: the bytes of its frames written (the gateway counts the rest)
        self.future: asyncio.Future[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.window = MessageWindow(message_rate) if message_rate is not None else None
        # Framed only: the extension's callables, the round-robin frames the writer has yet to write,
        # the task draining the backlog, and whether the handler is waiting in receive().
        self.send: Any = frames["send"] if frames is not None else None
        self.write: Any = (frames.get("write") or _cannot_write) if frames is not None else None
        self.pending: list[bytes] | None = None
        self.draining: asyncio.Task[None] | None = None
        self.listening = False

    def queued(self) -> int:
        """How many frames wait to be written to the client."""
        buffer, pending = self.buffer, self.pending
        return (len(buffer) if buffer else 0) + (len(pending) if pending else 0)

    def has_room(self, count: int) -> bool:
        if self.kind == "poll":
            return self.future is not None and not self.future.done()
        queued = self.queued()
        return not queued or queued + count <= self.limit

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.closing is not None and self.listening and self.task is not None:
            # A framed handler waits only in receive(), to learn of a close: a cancel it recognises wakes it.
            self.listening = False
            self.task.cancel()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until there is something to send or the subscriber is closing; False on timeout."""
        if self.buffer or self.closing is not None:
            return True
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            if timeout is None:
                await waiter
                return True
            try:
                await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                return False
            return True
        finally:
            self._waiter = None

    async def drained(self, timeout: float) -> bool:
        """Until a framed subscriber's backlog is written (True), for at most TIMEOUT seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.draining is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait((self.draining,), timeout=remaining)
        return True


def _cannot_write(data: bytes) -> bool:
    """The `write` of a frames extension that offers only `send`: every write goes through the backlog."""
    return False


class HttpServerOutput(Output):
    # One write at a time keeps messages in order; a write returns as soon as it is queued.
    max_in_flight = 1
    writes_inline = True

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        if ctx.routes is None:
            raise ValueError("http_server needs an HTTP server to register its endpoints on: run the config "
                             "with `asyncgate run` (served on http.address) or `asyncgate serve` (the gateway)")
        self.routes = ctx.routes
        self.stream_name = ctx.stream
        self.path: str = conf["path"]
        self.stream_path: str = conf["stream_path"]
        self.ws_path: str = conf["ws_path"]
        if not (self.path or self.stream_path or self.ws_path):
            raise ValueError("path, stream_path and ws_path are all empty: no endpoint to serve")
        self.allowed_verbs = [v.upper() for v in conf["allowed_verbs"]]
        if not self.allowed_verbs:
            raise ValueError("allowed_verbs: at least one verb is required")
        self.timeout: float = conf["timeout"]
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        self.stream_format: str = conf["stream_format"]
        self.heartbeat: float = conf["heartbeat"]
        if self.heartbeat < 0:
            raise ValueError("heartbeat must not be negative")
        self.ws_text = conf["ws_message_type"] == "text"
        self.broadcast = conf["fan_out"] == "broadcast"
        self.disconnect_slow = conf["slow_consumer"] == "disconnect"
        self.send_buffer: int = conf["send_buffer"]
        if self.send_buffer < 1:
            raise ValueError(f"send_buffer must be at least 1, got {self.send_buffer}")
        self.consumer_group: str = conf["consumer_group"]
        self.cors = Cors(conf["cors"], self.allowed_verbs + ["OPTIONS"])

        self._subs: list[Subscriber] = []
        self._framed: list[Subscriber] = []  # the framed WebSocket subscribers among _subs, for the writer
        self._pending: list[bytes] = []  # broadcast frames the writer has yet to write to the framed subscribers
        self._dirty: list[Subscriber] = []  # framed subscribers with round-robin frames in `pending`
        self._writer: asyncio.Task[None] | None = None
        self._writer_waiter: asyncio.Future[None] | None = None
        self._next = 0
        self._seq = 0
        self._changed: asyncio.Future[None] | None = None
        self._closed = False
        self._stopping = False
        self._handlers: set[asyncio.Future[Any]] = set()
        self._last_write = 0.0
        self._write_gap = float("inf")  # between the last two writes (seconds): the coalescing hint
        self._flush_cost = 0.0  # how long the writer's last flush took (seconds), the other hint
        self.counters = {"connections_total": 0, "queued": 0, "delivered": 0, "dropped": 0,
                         "discarded": 0, "disconnected_slow": 0, "poll_timeouts": 0,
                         "rate_dropped": 0, "rate_closed": 0}

    # -- wiring --------------------------------------------------------------------
    def bind(self, component: Any, ctx: Any) -> None:
        super().bind(component, ctx)
        owner = f"stream {ctx.stream}: {self.where}"
        try:
            if self.path:
                self.routes.add(self.path, self._poll_app, kind="http", owner=owner)
            if self.stream_path:
                self.routes.add(self.stream_path, self._stream_app, kind="http", owner=owner)
            if self.ws_path:
                self.routes.add(self.ws_path, self._ws_app, kind="websocket", owner=owner)
        except ValueError as exc:
            self.routes.remove_owner(owner)
            raise ComponentError(self.where, str(exc)) from None

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        """(kind, path) of each endpoint served: kind is "poll", "stream" or "ws"."""
        return [(k, p) for k, p in (("poll", self.path), ("stream", self.stream_path), ("ws", self.ws_path)) if p]

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for metrics: connected clients (by kind), messages queued to clients, written
        to them (`delivered`), dropped by drop_oldest, discarded (left in the buffer of a client
        that went away), clients disconnected for being slow, and messages dropped / clients closed for
        being over their message rate."""
        by_kind = {"ws": 0, "stream": 0, "poll": 0}
        for sub in self._subs:
            by_kind[sub.kind] += 1
        return {"clients": len(self._subs), "clients_by_kind": by_kind,
                "ws_framed_clients": len(self._framed), **self.counters,
                "fan_out": "broadcast" if self.broadcast else "round_robin"}

    # -- subscribers -----------------------------------------------------------------
    def subscribe(self, kind: SubscriberKind, remote: str = "", message_rate: MessageRate | None = None,
                  frames: Mapping[str, Any] | None = None) -> Subscriber:
        """A new subscriber of KIND; its frames appear in `sub.buffer` (a poll subscriber's batch in
        `sub.future`), `await sub.wait()` until there are some. The caller drains it with
        `take(sub)`, calls `sent(sub, n)` after writing n frames, stops when `sub.closing` is set
        (code, reason) and calls `unsubscribe(sub)` when the client is gone. MESSAGE_RATE: at most that
        many messages are sent to it (not for long-polls; see the module docstring).

        FRAMES (WebSocket): the connection's `asyncgate.websocket.frames` extension
        (engine/runtime/ws_frames.py). The output then writes to the client itself (complete WebSocket
        frames, through the extension); the caller only waits for `sub.closing` (woken by `sub.wake()`: a
        cancel while `sub.listening`), `await sub.drained(timeout)`, closes the connection and calls
        `unsubscribe(sub)`, as the WebSocket handler here does."""
        if self._closed:
            raise ConnectionAbortedError("the stream is stopped")
        sub = Subscriber(kind, self.send_buffer, remote, message_rate if kind != "poll" else None,
                         frames if kind == "ws" else None)
        if kind == "poll":
            sub.future = asyncio.get_running_loop().create_future()
        self._subs.append(sub)
        if sub.framed:
            self._framed.append(sub)
        self.counters["connections_total"] += 1
        self._notify()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._remove(sub)
        self._discard(sub)
        if sub._timer is not None:
            sub._timer.cancel()
            sub._timer = None
        if sub.draining is not None:
            sub.draining.cancel()

    def _discard(self, sub: Subscriber) -> None:
        """Drop what SUB still has queued, counted as discarded."""
        if sub.buffer:
            self.counters["discarded"] += len(sub.buffer)
            sub.buffer.clear()
        if sub.pending:
            self.counters["discarded"] += len(sub.pending)
            sub.pending = None

    def take(self, sub: Subscriber, limit: int | None = None) -> list[Any]:
        """Take (up to LIMIT of) the frames queued for SUB, freeing room in its buffer."""
        buffer = sub.buffer
        if not buffer:
            return []
        if limit is None or limit >= len(buffer):
            frames = list(buffer)
            buffer.clear()
        else:
            frames = [buffer.popleft() for _ in range(limit)]
        self._changed_if_waiting()
        return frames

    def sent(self, sub: Subscriber, count: int) -> None:
        """Count COUNT frames of SUB as written to its client."""
        sub.delivered += count
        self.counters["delivered"] += count

    def _remove(self, sub: Subscriber) -> None:
        try:
            i = self._subs.index(sub)
        except ValueError:
            return
        del self._subs[i]
        if i < self._next:
            self._next -= 1
        if sub.framed:
            self._framed.remove(sub)

    def close_clients(self, code: int = 1001, reason: str = "going away", flush: bool = True) -> int:
        """Close every connected client: WebSocket clients with CODE and REASON, chunked streams end,
        waiting long-polls get 503. With FLUSH, what a client was already sent is written first
        (for at most a few seconds). Returns how many clients were closed; `wait_clients_closed()`
        waits until their handlers are done."""
        if flush:
            self._flush()  # what the writer has yet to write is part of what the clients were sent
        subs = list(self._subs)
        for sub in subs:
            self._close(sub, code, reason, flush)
        return len(subs)

    async def wait_clients_closed(self, timeout: float = CLOSE_FLUSH_TIMEOUT + CLOSE_SEND_TIMEOUT + 1) -> bool:
        if not self._handlers:
            return True
        _, pending = await asyncio.wait(set(self._handlers), timeout=timeout)
        return not pending

    def _close(self, sub: Subscriber, code: int, reason: str, flush: bool) -> None:
        if sub.closing is not None:
            return
        sub.closing = (code, reason)
        self._remove(sub)
        if sub.kind == "poll":
            if sub.future is not None and not sub.future.done():
                sub.future.set_result(_CLOSED)
            return
        if sub.framed:
            if not flush:
                self._discard(sub)
                if sub.draining is not None:
                    sub.draining.cancel()  # may be stuck writing to a client that does not read
            else:
                if sub.pending:  # round-robin frames the writer has not written yet: they go out first
                    frames, sub.pending = sub.pending, None
                    self._queue(sub, frames, counted=True)
                # The handler waits for the backlog (at most CLOSE_FLUSH_TIMEOUT) before it closes.
        elif not flush:
            self._discard(sub)
            if sub.sending and sub.task is not None:
                sub.task.cancel()  # stuck writing to a client that does not read
        elif sub.task is not None:
            sub._timer = asyncio.get_running_loop().call_later(CLOSE_FLUSH_TIMEOUT, sub.task.cancel)
        sub.wake()

    def _gone(self, sub: Subscriber) -> None:
        """Writing to SUB (framed) failed: its client is gone; its handler ends without a close frame."""
        if sub.closing is None:
            self._close(sub, *_GONE, flush=False)
        else:  # it was being flushed before its close: give that up
            self._discard(sub)
            if sub.draining is not None:
                sub.draining.cancel()
        sub.closing = _GONE
        sub.wake()

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            if not changed.done():
                changed.set_result(None)

    async def _wait_change(self, timeout: float | None = None) -> None:
        """Until a subscriber comes, goes or takes frames (or TIMEOUT seconds pass)."""
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        if timeout is None:
            await asyncio.shield(self._changed)
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._changed), timeout)
        except TimeoutError:
            pass

    # -- writing -------------------------------------------------------------------------
    async def write(self, batch: Batch) -> None:
        if not batch:
            return
        now = asyncio.get_running_loop().time()
        self._write_gap, self._last_write = now - self._last_write, now
        while True:
            if self._closed:
                raise ConnectionAbortedError(f"{self.where}: the stream is stopped")
            if self.broadcast:
                if self._subs:
                    self._broadcast(batch, now)
                    return
            else:
                sub = self._pick(len(batch), now)
                while sub is not None:
                    # All of it, unless the subscriber's message rate lets only part through now.
                    window = sub.window
                    part = batch if window is None else batch[:window.room(now)]
                    first = self._seq + 1
                    self._seq += len(part)
                    self._hand(sub, part, first, None, now)
                    if len(part) == len(batch):
                        return
                    batch = batch[len(part):]
                    sub = self._pick(len(batch), now)
            if self._stopping:
                raise ConnectionAbortedError(f"{self.where}: the stream stopped before a subscriber took the message")
            await self._wait_change(None if self.broadcast else self._rate_wait(len(batch), now))
            now = asyncio.get_running_loop().time()

    def stopping(self) -> None:
        self._stopping = True
        self._notify()

    def _pick(self, count: int, now: float) -> Subscriber | None:
        subs = self._subs
        total = len(subs)
        start = self._next
        for i in range(total):
            idx = (start + i) % total
            sub = subs[idx]
            if sub.has_room(count) and (sub.window is None or sub.window.room(now) > 0):
                self._next = (idx + 1) % total
                return sub
        return None

    def _rate_wait(self, count: int, now: float) -> float | None:
        """Seconds until a subscriber passed over only for its message rate may take COUNT messages again."""
        waits = [sub.window.wait(now) for sub in self._subs if sub.window is not None and sub.has_room(count)]
        return min((w for w in waits if w > 0), default=None)

    def _broadcast(self, batch: Batch, now: float) -> None:
        first = self._seq + 1
        self._seq += len(batch)
        cache: dict[str, list[Any]] = {}
        if len(self._framed) != len(self._subs):
            for sub in list(self._subs):
                if not sub.framed:
                    self._hand(sub, batch, first, cache, now)
        if self._framed:
            # One list for every framed subscriber: the writer joins it once and writes the same bytes to each.
            self._pending += self.encode("ws_framed", batch, first)
            self._wake_writer()

    def _hand(self, sub: Subscriber, batch: Batch, first: int, cache: dict[str, list[Any]] | None,
              now: float) -> None:
        if sub.kind == "poll":
            # A long-poll takes one batch and leaves the group.
            self._remove(sub)
            if sub.future is not None and not sub.future.done():
                sub.future.set_result(batch)
                self.counters["queued"] += len(batch)
            return
        key = "ws_framed" if sub.framed else sub.kind
        frames = None if cache is None else cache.get(key)
        if frames is None:
            frames = self.encode(key, batch, first)
            if cache is not None:
                cache[key] = frames
        count = len(frames)
        if sub.window is not None:
            fit = sub.window.take(count, now)
            if fit < count:
                self._over_rate(sub, count - fit)
                frames, count = frames[:fit], fit
        if sub.framed:  # round robin
            if not count:
                return
            if sub.buffer is not None:
                self._queue(sub, frames)
                return
            if sub.pending is None and self._write_gap * len(self._framed) >= COALESCE_WINDOW:
                # In rotation, this subscriber's batches come further apart than the window: write it now.
                self.counters["queued"] += count
                if not self._try_write(sub, frames[0] if count == 1 else b"".join(frames), count):
                    if sub.closing is _GONE:
                        self.counters["discarded"] += count
                    else:
                        self._queue(sub, frames, counted=True)
                return
            # Else the writer writes it, with what else comes for this subscriber meanwhile.
            if sub.pending is None:
                sub.pending = []
                self._dirty.append(sub)
            sub.pending += frames
            self.counters["queued"] += count
            self._wake_writer()
            return
        self._queue(sub, frames)
        sub.wake()

    def _queue(self, sub: Subscriber, frames: list[Any], counted: bool = False) -> None:
        """FRAMES into SUB's buffer (a framed subscriber's backlog, drained by a task of its own while it
        is not empty), with the slow-consumer policy when they do not fit. COUNTED: they were counted as
        queued already (round-robin frames the writer could not write)."""
        count = len(frames)
        buffer = sub.buffer
        if buffer is None:
            buffer = sub.buffer = collections.deque()
        elif buffer and len(buffer) + count > sub.limit:
            if self.disconnect_slow and sub.closing is None:
                self.counters["disconnected_slow"] += 1
                self.log.warning("%s: disconnecting slow %s client %s: send buffer of %d messages full",
                                 self.where, sub.kind, sub.remote or "?", sub.limit)
                self._close(sub, 1008, SLOW_CONSUMER_REASON, flush=False)
                return
            while buffer and len(buffer) + count > sub.limit:
                buffer.popleft()
                self.counters["dropped"] += 1
        buffer.extend(frames)
        if not counted:
            self.counters["queued"] += count
        if sub.framed:
            if sub.draining is None:
                sub.draining = asyncio.ensure_future(self._drain(sub))
            else:
                sub.wake()  # a lingering backlog task (see _drain)

    # -- the framed subscribers' writer ----------------------------------------------------
    def _wake_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._run_writer())
            return
        waiter = self._writer_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending and not self._dirty:
                waiter = self._writer_waiter = loop.create_future()
                try:
                    await waiter
                finally:
                    self._writer_waiter = None
                delay = self._coalescing_delay()
                if delay:
                    await asyncio.sleep(delay)
                continue
            started = time.perf_counter()
            self._flush()
            self._flush_cost = time.perf_counter() - started

    def _coalescing_delay(self) -> float:
        """How long the woken writer waits before it writes, so that one write per subscriber carries what
        comes meanwhile: COALESCE_WINDOW while messages come faster than that; as long as its last flush took
        (at most COALESCE_MAX) while messages come about as fast as it can flush (a flush is a syscall per
        subscriber: with hundreds of them, flushing each message alone would leave the stream no time to make
        the next ones); none at lower rates, so a lone message leaves at once."""
        gap, cost = self._write_gap, self._flush_cost
        if cost > COALESCE_WINDOW and gap < 2 * cost + COALESCE_WINDOW:
            return min(cost, COALESCE_MAX)
        return COALESCE_WINDOW if gap < COALESCE_WINDOW else 0.0

    def _flush(self) -> None:
        """Write what is pending for the framed subscribers: the broadcast frames joined once (at most
        FRAMES_PER_WRITE per write) and the same bytes to every caught-up subscriber, then each
        subscriber's round-robin frames. A subscriber that cannot take them now gets them in its backlog."""
        now = asyncio.get_running_loop().time()
        counters = self.counters
        while self._pending:
            frames = self._pending
            if len(frames) <= FRAMES_PER_WRITE:
                self._pending = []
            else:
                frames, self._pending = frames[:FRAMES_PER_WRITE], frames[FRAMES_PER_WRITE:]
            count = len(frames)
            data = frames[0] if count == 1 else b"".join(frames)
            written, skipped, refused, failed = fanout.dispatch(self._framed, data, count)
            counters["queued"] += written * count
            counters["delivered"] += written * count
            for sub in failed:
                self._gone(sub)
                counters["queued"] += count
                counters["discarded"] += count  # handed to a client that is gone
            for sub in refused:
                self._queue(sub, frames)
            for sub in skipped:
                self._write_one(sub, frames, data, now)
        if self._dirty:
            dirty, self._dirty = self._dirty, []
            for sub in dirty:
                frames = sub.pending
                if frames is None:  # closed or gone since
                    continue
                sub.pending = None
                if sub.buffer is not None:
                    self._queue(sub, frames, counted=True)
                    continue
                for i in range(0, len(frames), FRAMES_PER_WRITE):
                    chunk = frames[i:i + FRAMES_PER_WRITE]
                    if not self._try_write(sub, chunk[0] if len(chunk) == 1 else b"".join(chunk), len(chunk)):
                        if sub.closing is _GONE:
                            counters["discarded"] += len(frames) - i
                        else:
                            self._queue(sub, frames[i:], counted=True)
                        break
            self._changed_if_waiting()

    def _write_one(self, sub: Subscriber, frames: list[bytes], data: bytes | None, now: float) -> None:
        """Broadcast FRAMES (joined: DATA) to a subscriber the dispatch passed over: it has a message rate
        or a backlog."""
        count = len(frames)
        if sub.window is not None:
            fit = sub.window.take(count, now)
            if fit < count:
                self._over_rate(sub, count - fit)
                frames, data, count = frames[:fit], None, fit
                if not count:
                    return
        if sub.buffer is None:
            if data is None:
                data = frames[0] if count == 1 else b"".join(frames)
            if self._try_write(sub, data, count):
                self.counters["queued"] += count
                return
            if sub.closing is _GONE:
                self.counters["queued"] += count
                self.counters["discarded"] += count
                return
        self._queue(sub, frames)

    def _try_write(self, sub: Subscriber, data: bytes, count: int) -> bool:
        """DATA (COUNT frames) written to caught-up SUB now; False when it cannot take it now (or is gone)."""
        try:
            written = sub.write(data)
        except Exception:  # noqa: BLE001 - a connection that cannot be written to is gone, whatever the error
            self._gone(sub)
            return False
        if written:
            self.sent(sub, count)
            sub.bytes_written += len(data)
        return bool(written)

    async def _drain(self, sub: Subscriber) -> None:
        """Write a framed subscriber's backlog with the awaited `send` (which waits for the client to read),
        what is queued (up to FRAMES_PER_WRITE frames) per write; ends, caught up, once it is empty. Without
        a sync `write` every frame comes this way: then it stays while frames keep coming (DRAIN_LINGER)."""
        buffer = sub.buffer
        assert buffer is not None
        linger = DRAIN_LINGER if sub.write is _cannot_write else None
        frames: list[bytes] = []
        try:
            while True:
                while buffer:
                    frames = self.take(sub, FRAMES_PER_WRITE)
                    data = frames[0] if len(frames) == 1 else b"".join(frames)
                    await sub.send(data)
                    self.sent(sub, len(frames))
                    sub.bytes_written += len(data)
                    frames = []
                if linger is None or sub.closing is not None or not await sub.wait(linger) or not buffer:
                    break
        except asyncio.CancelledError:  # closed without flush, or the flush took too long
            self.counters["discarded"] += len(frames)  # taken for a send that did not finish
            self._discard(sub)
        except Exception:  # noqa: BLE001 - a connection that cannot be written to is gone, whatever the error
            sub.draining = None
            self._gone(sub)
        finally:
            sub.draining = None
            if sub.buffer is buffer and not buffer:
                sub.buffer = None  # caught up: the writer writes to it directly again
            sub.wake()

    def _over_rate(self, sub: Subscriber, refused: int) -> None:
        """SUB was handed REFUSED messages more than its message rate allows (broadcast): drop or close."""
        window = sub.window
        assert window is not None
        limit = window.limit
        if limit.action == "close":
            self.counters["rate_closed"] += 1
            self.log.warning("%s: closing %s client %s: over its message rate of %s", self.where, sub.kind,
                             sub.remote or "?", limit)
            # What fitted is queued after this and still flushed before the close.
            self._close(sub, 1008, f"message rate of {limit} exceeded", flush=True)
            return
        self.counters["rate_dropped"] += refused
        if not window.over:
            window.over = True
            self.log.warning("%s: %s client %s is over its message rate of %s: the messages over it are dropped "
                             "for this client", self.where, sub.kind, sub.remote or "?", limit)

    def encode(self, kind: str, batch: Batch, first: int) -> list[Any]:
        """The frames of BATCH for subscribers of KIND ("ws", "ws_framed": complete WebSocket frames,
        "stream"), one per message; FIRST is the sequence number (SSE id) of its first message."""
        if kind == "ws_framed":
            if self.ws_text:
                return framing.ws_frames([_utf8(m.raw) for m in batch], True)
            return framing.ws_frames([m.raw for m in batch], False)
        if kind == "ws":
            if self.ws_text:
                return [m.raw.decode("utf-8", "replace") for m in batch]
            return [m.raw for m in batch]
        if self.stream_format == "event_source":
            return framing.sse_events(first, [m.raw for m in batch])
        return [m.raw + b"\n" for m in batch]

    async def close(self) -> None:
        self._closed = True
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)
        self.close_clients(1001, "stream stopped")
        await self.wait_clients_closed()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    # -- endpoints (raw ASGI) --------------------------------------------------------------
    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _check_request(self, scope: Scope, send: Send) -> list[tuple[bytes, bytes]] | None:
        """CORS headers for the response, or None once the request was answered (preflight, 405, 503)."""
        if self.cors.is_preflight(scope):
            await self.cors.preflight(scope, send)
            return None
        cors = self.cors.headers(scope)
        method = scope.get("method", "GET")
        if method not in self.allowed_verbs:
            await method_not_allowed(send, method, self.allowed_verbs, cors)
            return None
        if self._closed:
            await send_problem(send, 503, "Service Unavailable", "the stream is stopped", headers=cors)
            return None
        return cors

    async def _poll_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        cors = await self._check_request(scope, send)
        if cors is None:
            return
        self._track()
        sub = self.subscribe("poll", _remote(scope))
        _announce(scope, sub)
        assert sub.future is not None
        gone = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((sub.future, gone), timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            self._remove(sub)
        result = sub.future.result() if sub.future.done() else None
        if result is None:
            sub.future.cancel()
            if not gone.done() or gone.cancelled():
                self.counters["poll_timeouts"] += 1
                await send_problem(send, 408, "Request Timeout",
                                   f"no message within {self.timeout:g}s", headers=cors)
            return
        if result is _CLOSED:
            reason = sub.closing[1] if sub.closing else "stream stopped"
            await send_problem(send, 503, "Service Unavailable", reason, headers=cors)
            return
        batch: Batch = result
        if gone.done() and not gone.cancelled():
            self.counters["discarded"] += len(batch)
            return
        if len(batch) == 1:
            body, content_type = batch[0].raw, b"application/octet-stream"
        else:
            content_type, body = encode_multipart(
                [([("Content-Type", "application/octet-stream")], m.raw) for m in batch])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store"), *cors]})
        await send({"type": "http.response.body", "body": body})
        self.sent(sub, len(batch))

    async def _stream_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        cors = await self._check_request(scope, send)
        if cors is None:
            return
        self._track()
        if self.stream_format == "event_source":
            headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                       (b"x-accel-buffering", b"no")]
        else:
            headers = [(b"content-type", b"application/octet-stream"), (b"cache-control", b"no-cache"),
                       (b"x-accel-buffering", b"no")]
        sub = self.subscribe("stream", _remote(scope), message_rate=_message_rate(scope))
        _announce(scope, sub)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers + cors})
        except BaseException:
            self.unsubscribe(sub)
            raise
        await self._serve(sub, self._pump_stream(sub, send), _wait_disconnect(receive), send, "stream")

    async def _ws_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        frames = (scope.get("extensions") or {}).get(WS_FRAMES_EXTENSION)
        if frames is None:
            self._track()
            if await self._accept_ws(send):
                sub = self.subscribe("ws", _remote(scope), _message_rate(scope))
                _announce(scope, sub)
                await self._serve(sub, self._pump_ws(sub, send), _ws_wait_disconnect(receive), send, "ws")
            return
        # Framed: the writer writes to the client, and this coroutine is all an idle subscriber costs (no
        # other task, frame or callback): it only reads (ignoring what the client sends) until the client
        # leaves or `sub.wake()` (a cancel) tells it that it is closing, then waits for its backlog to be
        # written and closes the connection.
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if not await self._accept_ws(send):
                return
            sub = self.subscribe("ws", _remote(scope), _message_rate(scope), frames)
            sub.task = task
            _announce(scope, sub)
            try:
                while sub.closing is None:
                    sub.listening = True
                    try:
                        message = await receive()
                    except asyncio.CancelledError:
                        if sub.listening or task.uncancel() > 0:  # not (only) the wake-up
                            raise
                        continue
                    sub.listening = False
                    if message["type"] == "websocket.disconnect":
                        return
                await sub.drained(CLOSE_FLUSH_TIMEOUT)  # what it was sent first; then unsubscribe cuts it off
            finally:
                sub.listening = False
                self.unsubscribe(sub)
            if sub.closing is _GONE:
                return
            code, reason = sub.closing
            try:
                await asyncio.wait_for(send({"type": "websocket.close", "code": code, "reason": reason}),
                                       CLOSE_SEND_TIMEOUT)
            except Exception:  # noqa: BLE001, S110 - the client is stuck or gone; nothing more to tell it
                pass
        finally:
            self._handlers.discard(task)

    async def _accept_ws(self, send: Send) -> bool:
        """Accept the WebSocket; False when the stream is stopped (then closed 1001 at once)."""
        await send({"type": "websocket.accept"})
        if self._closed:
            await send({"type": "websocket.close", "code": 1001, "reason": "stream stopped"})
            return False
        return True

    async def _serve(self, sub: Subscriber, pump_coro: Any, gone_coro: Any, send: Send, kind: str) -> None:
        pump = sub.task = asyncio.ensure_future(pump_coro)
        gone = asyncio.ensure_future(gone_coro)
        peer_gone = False
        try:
            done, _ = await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                peer_gone = True
                pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            if not pump.cancelled() and pump.exception() is not None:
                peer_gone = True  # writing failed: the client is gone
        finally:
            gone.cancel()
            if not pump.done():  # the handler itself was cancelled (server shutdown)
                pump.cancel()
            self.unsubscribe(sub)
        if peer_gone:
            return
        code, reason = sub.closing or (1000, "")
        if kind == "ws":
            final = {"type": "websocket.close", "code": code, "reason": reason}
        else:
            final = {"type": "http.response.body", "body": b"", "more_body": False}
        try:
            await asyncio.wait_for(send(final), CLOSE_SEND_TIMEOUT)
        except Exception:  # noqa: BLE001, S110 - the client is stuck or gone; nothing more to tell it
            pass

    async def _pump_ws(self, sub: Subscriber, send: Send) -> None:
        buffer = sub.buffer
        key = "text" if self.ws_text else "bytes"
        counters = self.counters
        notify = self._changed_if_waiting
        try:
            while True:
                if not buffer:
                    if sub.closing is not None:
                        return
                    await sub.wait()
                    continue
                frame = buffer.popleft()
                notify()
                sub.sending = True
                await send({"type": "websocket.send", key: frame})
                sub.sending = False
                sub.delivered += 1
                counters["delivered"] += 1
        except asyncio.CancelledError:
            return

    async def _pump_stream(self, sub: Subscriber, send: Send) -> None:
        buffer = sub.buffer
        heartbeat = (self.heartbeat or None) if self.stream_format == "event_source" else None
        try:
            while True:
                if not buffer:
                    if sub.closing is not None:
                        return
                    if not await sub.wait(heartbeat):
                        sub.sending = True
                        await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                        sub.sending = False
                    continue
                frames = self.take(sub)
                sub.sending = True
                await send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})
                sub.sending = False
                self.sent(sub, len(frames))
        except asyncio.CancelledError:
            return

    def _changed_if_waiting(self) -> None:
        if self._changed is not None:
            self._notify()


def _utf8(payload: bytes) -> bytes:
    """PAYLOAD as valid UTF-8 (what a text frame must carry): invalid sequences replaced, as the ASGI
    path's `decode("utf-8", "replace")` does."""
    try:
        payload.decode("utf-8")
        return payload
    except UnicodeDecodeError:
        return payload.decode("utf-8", "replace").encode("utf-8")


def _announce(scope: Scope, sub: Subscriber) -> None:
    hook = scope.get(SUBSCRIBER_HOOK)
    if hook is not None:
        hook(sub)


def _remote(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


def _message_rate(scope: Scope) -> MessageRate | None:
    """The subscriber's message rate, as the gateway put it in the scope (none outside the gateway)."""
    return (scope.get("asyncgate") or {}).get("message_rate")


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _ws_wait_disconnect(receive: Receive) -> None:
    # Whatever a subscriber sends is ignored; pings are answered by the server itself.
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return


_DESCRIPTION = """\
Three endpoints are registered at `path`, `stream_path` and `ws_path` (an empty path disables \
that endpoint), served by `asyncgate run` on the `http.address` server, or by the gateway under \
the API's listen path (`asyncgate serve`). `address`, `cert_file` and `key_file` are not \
supported: every endpoint is served by that shared server.

- `path`: a long-poll GET that waits up to `timeout` for one batch and returns it: one message \
as the body, a batch of several as `multipart/mixed` (RFC 1341); 408 with a JSON problem body \
when nothing came in time.
- `stream_path`: a chunked HTTP response that stays open. `stream_format: raw_bytes` writes each \
message followed by a newline; `event_source` writes Server-Sent Events (`id: <n>` and one \
`data:` line per line of the message), with a `: heartbeat` comment after `heartbeat` without \
messages when that is set.
- `ws_path`: a WebSocket; each message is one WebSocket message (`ws_message_type`: binary or \
text frames). Pings from clients are answered by the server; nothing clients send is used.

## Distribution

All the clients connected to one output form one consumer group. With `fan_out: round_robin` \
(the default, as in Bento and Tyk) each batch goes to exactly one client, the next in rotation \
that has room in its send buffer. With `fan_out: broadcast` (an AsyncGate extension) every \
client gets every message, each frame built once and shared by all clients. Either way, while no \
client is connected the output waits (backpressure: the stream holds until a consumer arrives). \
In the gateway, a `consumer_group` that renders differently per request (e.g. \
`$tyk_context.request_id`) gives each distinct value its own stream, and therefore a full copy.

A message is acknowledged once it is queued to its client(s): there is no at-least-once \
delivery to HTTP clients (as in Bento).

## Slow consumers

Each client has a send buffer of `send_buffer` messages, drained by its own sender, so one slow \
client never delays the others. In round_robin a client whose buffer is full is passed over. In \
broadcast, when a message does not fit, `slow_consumer: disconnect` closes that client (WebSocket \
close code 1008, reason "slow consumer: send buffer full"; a stream response ends) and \
`drop_oldest` drops its oldest queued messages instead. Both are counted.

## Message rates (gateway)

In the gateway, each WebSocket or stream subscriber may have a message rate: the API's \
`x-asyncgate-message-rate: {rate, per, action}`, or its key's (or policies') \
`message_rate`/`message_per`. At most `rate` messages in any `per` are sent to it (an exact sliding \
window). In broadcast, the messages over it are dropped for that subscriber (`action: drop`) or the \
subscriber is closed once what fitted was sent (`action: close`: WebSocket close 1008 naming the rate, \
a stream response ends); both are counted (`rate_dropped`, `rate_closed`). In round_robin no message is \
lost: a subscriber over its rate is passed over, and while no subscriber can take a message the output \
waits, as when every buffer is full."""

register(s.ComponentSpec(
    name="http_server", kind="output", category="network",
    summary="Sets up HTTP endpoints that send messages to clients: WebSocket, a chunked stream (raw lines or "
            "Server-Sent Events) and long-poll GET.",
    description=_DESCRIPTION,
    config=s.obj(
        "http_server", "",
        s.unsupported("address", "An alternative address to host from; AsyncGate serves every endpoint on the "
                                 "shared HTTP server (`http.address`, or the gateway)."),
        s.string("path", "The path from which discrete messages (one batch per request) can be consumed by "
                         "long-poll GET. Empty disables it.", "/get"),
        s.string("stream_path", "The path from which a continuous stream of messages can be consumed. Empty "
                                "disables it.", "/get/stream"),
        s.string("ws_path", "The path from which WebSocket connections can be established. Empty disables it.",
                 "/get/ws"),
        s.string("ws_message_type", "The type of WebSocket message sent to clients.", "binary",
                 options=("binary", "text")),
        s.string("stream_format", "How `stream_path` writes messages: `raw_bytes` (each followed by a newline) "
                                  "or `event_source` (Server-Sent Events).", "raw_bytes",
                 options=("raw_bytes", "event_source")),
        s.duration("heartbeat", "With `stream_format: event_source`, a `: heartbeat` comment is sent after this "
                                "long without messages (0s: never).", "0s", examples=("15s",)),
        s.Field("allowed_verbs", "string", "The verbs allowed for the `path` and `stream_path` endpoints.",
                default=["GET"], kind="list"),
        s.duration("timeout", "How long a long-poll request on `path` waits for a message before it is "
                              "answered 408.", "5s"),
        s.string("consumer_group", "The consumer group of this endpoint's clients. In the gateway it may hold "
                                   "`$tyk_context.*` variables: each distinct rendered value runs its own stream "
                                   "instance (its own upstream subscription). Plain text here.", "",
                 examples=("$tyk_context.request_ip",)),
        s.string("fan_out", "How messages are distributed among the connected clients: `round_robin` (each "
                            "message to one client, in turn) or `broadcast` (every client gets every message; "
                            "an AsyncGate extension).", "round_robin", options=("round_robin", "broadcast")),
        s.string("slow_consumer", "What happens when a client's send buffer is full (broadcast): `disconnect` "
                                  "the client (WebSocket close 1008) or `drop_oldest` of its queued messages.",
                 "disconnect", options=("disconnect", "drop_oldest")),
        s.integer("send_buffer", "The most messages queued for one client before `slow_consumer` applies.", 256,
                  advanced=True),
        s.unsupported("cert_file"), s.unsupported("key_file"),
        CORS_FIELD,
        default={}, allow_scalar=True,
    ),
    factory=lambda conf, ctx: HttpServerOutput(conf, ctx),
    examples=(
        "output:\n  http_server:\n    ws_path: /subscribe\n    stream_path: /events\n    stream_format: event_source\n"
        "    path: /poll",
        "# Every subscriber gets every message; a slow one loses its oldest queued messages:\n"
        "output:\n  http_server:\n    ws_path: /ticker\n    fan_out: broadcast\n    slow_consumer: drop_oldest",
    ),
))
