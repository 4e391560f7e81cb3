"""The `redis_streams` input: reads Redis streams as a consumer group member (XREADGROUP).

An entry is XACKed only once the stream's output delivered it (acks are gathered and sent every
`commit_period`). At start the input first reads back the entries still pending for its
`client_id` (delivered to it before but never acknowledged, e.g. after a crash), then new ones.
A failed delivery is re-sent by the runtime while the process runs; an entry never acked stays
pending in the group and is read again by the next start with the same `client_id`.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from typing import Any

from ... import spec as s
from ...component import AckFn, Input
from ...message import Batch, Message
from ...registry import register
from .._redis import Backoff, LinkState, check_common, common_fields, is_connection_error, open_client, safe_url, text


class RedisStreamsInput(Input):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.url = check_common(conf)
        self.streams = [str(x) for x in conf["streams"] or []]
        if not self.streams:
            raise ValueError("streams: at least one stream is required")
        self.group = conf["consumer_group"] or ""
        if not self.group:
            raise ValueError("consumer_group: a consumer group is required")
        self.client_id = conf["client_id"] or f"asyncgate-{uuid.uuid4().hex[:12]}"
        self.body_key = conf["body_key"]
        self.limit = int(conf["limit"])
        if self.limit < 1:
            raise ValueError("limit must be at least 1")
        self.create_streams = bool(conf["create_streams"])
        self.start_from_oldest = bool(conf["start_from_oldest"])
        self.commit_period = float(conf["commit_period"] or 0.0)
        # auto_replay_nacks off: a failed message is dropped (acknowledged) instead of replayed.
        self.supports_nack = not conf["auto_replay_nacks"]
        self.timeout = float(conf["timeout"] or 0.0)
        self._client: Any = None
        self._buffer: collections.deque[tuple[str, bytes, dict[bytes, bytes]]] = collections.deque()
        # While recovering: the id after which to read this consumer's pending entries, per stream.
        self._recover: dict[str, bytes | str] = {}
        self._to_ack: dict[str, list[bytes]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._state: LinkState | None = None
        self._backoff = Backoff()

    @property
    def state(self) -> LinkState:
        if self._state is None:
            self._state = LinkState(self.log, self.where, safe_url(self.url))
        return self._state

    async def connect(self) -> None:
        import redis.exceptions as rex

        self._client = await open_client(self.url, f"asyncgate:{self.client_id}", self.where)
        start = "0" if self.start_from_oldest else "$"
        for stream in self.streams:
            try:
                await self._client.xgroup_create(stream, self.group, id=start, mkstream=self.create_streams)
            except rex.ResponseError as exc:
                if "BUSYGROUP" in str(exc):
                    continue
                if "requires the key to exist" in str(exc):
                    raise ConnectionError(f"{self.where}: stream {stream!r} does not exist at "
                                          f"{safe_url(self.url)} (and create_streams is off)") from exc
                raise ConnectionError(f"{self.where}: creating consumer group {self.group!r} on stream "
                                      f"{stream!r}: {exc}") from exc
        self._recover = {stream: "0" for stream in self.streams}
        self.state.connected()

    async def read(self) -> tuple[Batch, AckFn]:
        while not self._buffer:
            await self._fill()
        stream, entry_id, fields = self._buffer.popleft()
        return [self._message(entry_id, fields)], self._acker(stream, entry_id)

    async def _fill(self) -> None:
        recovering = bool(self._recover)
        if recovering:
            ids: dict[str, Any] = dict(self._recover)
            block = None
        else:
            ids = {stream: ">" for stream in self.streams}
            block = max(1, int((self.timeout or 1.0) * 1000))  # BLOCK 0 would wait forever
        try:
            reply = await self._client.xreadgroup(self.group, self.client_id, ids, count=self.limit, block=block)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_connection_error(exc) and "NOGROUP" not in str(exc):
                raise
            self.state.lost(exc)
            if "NOGROUP" in str(exc):  # the stream or group was deleted under us: make them again
                await self._recreate_groups()
            await asyncio.sleep(self._backoff.next())
            return
        if not self.state.up:
            self.state.connected()
            self._flush_soon()
        self._backoff.reset()
        for stream_name, entries in _pairs(reply):
            stream = text(stream_name)
            if recovering and not entries:
                self._recover.pop(stream, None)
                continue
            for entry_id, fields in entries:
                if recovering:
                    self._recover[stream] = entry_id
                if fields is None:  # pending, but trimmed away since: nothing to deliver
                    self._queue_ack(stream, entry_id)
                    continue
                self._buffer.append((stream, entry_id, fields))
        if recovering:
            for stream in list(self._recover):
                if not any(text(name) == stream for name, _ in _pairs(reply)):
                    self._recover.pop(stream, None)
            if not self._recover and self._buffer:
                self.log.info("%s: re-reading %d entr(ies) left pending for consumer %r", self.where,
                              len(self._buffer), self.client_id)

    async def _recreate_groups(self) -> None:
        if not self.create_streams:
            return
        for stream in self.streams:
            try:
                await self._client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except Exception:  # noqa: BLE001, S110 - BUSYGROUP or still unreachable: retried on the next read
                pass

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Message:
        meta: dict[str, Any] = {}
        body: bytes | None = None
        key = self.body_key.encode()
        for name, value in fields.items():
            if name == key:
                body = value
            else:
                meta[text(name)] = text(value)
        meta["redis_stream"] = text(entry_id)
        msg = Message(body if body is not None else b"", meta)
        if body is None:
            msg.error = f"stream entry {text(entry_id)} has no field {self.body_key!r}"
        return msg

    # -- acknowledging ------------------------------------------------------------
    def _acker(self, stream: str, entry_id: bytes) -> AckFn:
        async def ack(error: BaseException | None) -> None:
            if error is None or self.supports_nack:
                self._queue_ack(stream, entry_id)
            # Otherwise the runtime re-sends it; the entry stays pending until then.

        return ack

    def _queue_ack(self, stream: str, entry_id: bytes) -> None:
        self._to_ack.setdefault(stream, []).append(entry_id)
        if self.commit_period <= 0:
            self._flush_soon()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.commit_period, self._flush_soon)

    def _flush_soon(self) -> None:
        self._timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._to_ack:
            pending, self._to_ack = self._to_ack, {}
            try:
                for stream, ids in pending.items():
                    await self._client.xack(stream, self.group, *ids)
            except Exception as exc:  # noqa: BLE001 - kept and sent again
                for stream, ids in pending.items():
                    self._to_ack.setdefault(stream, [])[:0] = ids
                self.log.warning("%s: XACK failed, retrying: %s", self.where, exc)
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(
                        max(self.commit_period, 1.0), self._flush_soon)
                return

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._client is None:
            return
        try:
            if self._flushing is not None and not self._flushing.done():
                await asyncio.wait_for(asyncio.shield(self._flushing), 5)
            if self._to_ack:
                await asyncio.wait_for(self._flush(), 5)
        except Exception as exc:  # noqa: BLE001
            self.log.warning("%s: final XACK failed (those entries stay pending): %s", self.where, exc)
        await self._client.aclose()
        self._client = None


def _pairs(reply: Any) -> list[tuple[Any, list[tuple[bytes, dict[bytes, bytes] | None]]]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return [(name, value[0] if value and isinstance(value[0], list) else value) for name, value in reply.items()]
    return [(name, entries) for name, entries in reply]


register(s.ComponentSpec(
    name="redis_streams", kind="input", category="services",
    summary="Pulls messages from Redis (v5.0+) streams with the XREADGROUP command. The `client_id` should be "
            "unique for each consumer of a group.",
    description=(
        "Redis stream entries are key/value pairs, so the key holding the message body is set with "
        "`body_key`; every other key/value pair becomes a metadata field, and `redis_stream` holds the entry's "
        "ID. An entry without the body key is delivered empty and marked errored.\n\n"
        "Entries are acknowledged (XACK) only after the output delivered them, gathered every "
        "`commit_period`. When it starts, the input first reads the entries still pending for its `client_id` "
        "(read but never acknowledged, for instance before a crash), so set a fixed `client_id` to recover "
        "them; the default is a new random name per run.\n\n"
        "The stream fails to start with an error naming the server when Redis cannot be reached. A connection "
        "lost later is re-established with backoff.\n\n### Metadata\n\n- redis_stream (the entry ID)\n"
        "- every field of the entry other than `body_key`"),
    config=s.obj(
        "redis_streams", "",
        *common_fields(),
        s.string("body_key", "The field key to extract the raw message from. All other keys are stored in the "
                 "message as metadata.", "body"),
        s.string("streams", "A list of streams to consume from.", kind="list"),
        s.boolean("auto_replay_nacks", "Whether messages that are rejected (nacked) at the output level should "
                  "be automatically replayed indefinitely; off, they are dropped.", True),
        s.integer("limit", "The maximum number of messages to consume from a single request.", 10,
                  advanced=True),
        s.string("client_id", "An identifier for the client (the consumer name in the group). Empty: a random "
                 "name for each run.", ""),
        s.string("consumer_group", "An identifier for the consumer group of the stream.", ""),
        s.boolean("create_streams", "Create subscribed streams if they do not exist (MKSTREAM option).", True,
                  advanced=True),
        s.boolean("start_from_oldest", "If an offset is not found for a stream, determines whether to consume "
                  "from the oldest available offset, otherwise messages are consumed from the latest offset.",
                  True, advanced=True),
        s.duration("commit_period", "The period of time between each commit of the current offset (XACK of "
                   "delivered entries).", "1s", advanced=True),
        s.duration("timeout", "The length of time to poll for new messages before reattempting (XREADGROUP "
                   "BLOCK).", "1s", advanced=True),
    ),
    factory=lambda conf, ctx: RedisStreamsInput(conf, ctx),
    examples=(("input:\n  redis_streams:\n    url: redis://127.0.0.1:6379\n    streams: [events]\n"
              "    consumer_group: asyncgate\n    client_id: gateway-1"),),
))
