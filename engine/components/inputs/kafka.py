"""The `kafka` input (alias `kafka_franz`): consumes topics through librdkafka (confluent-kafka).

How it works
- One reader thread owns the blocking consumer: it calls `consume()` with a short timeout (so the
  rebalance callbacks, which librdkafka runs inside `consume()`, are served promptly), turns what it
  got into one batch per partition and hands the batches to the event loop with
  `call_soon_threadsafe`. The event loop never waits on librdkafka.
- At-least-once: offsets are committed only for messages acked downstream. Per partition the input
  keeps its batches in offset order; an ack marks a batch done, and the highest offset below which
  every batch is done is what gets committed (every `commit_period`, and at shutdown), so a commit
  never passes an unacked message. Acks may arrive in any order (`max_in_flight`).
- `checkpoint_limit`: a partition with that many messages read but not yet acked is paused until
  acks catch up (backpressure without leaving the group).
- Rebalances: on revoke the partition's batches not yet handed out are dropped, the input waits
  briefly for the ones in flight to be acked, commits what is acked and forgets the partition
  (late acks no longer commit: the new owner re-reads from the committed offset). On assign the
  partition starts from the committed offset (or `start_from_oldest` when there is none).
- A nack (an output failure) never commits: with `auto_replay_nacks` (the default) the runtime
  re-sends the batch until it is delivered; without it the batch is given up and counts as done,
  as in Bento.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
import time
from typing import Any

from ... import spec as s
from ...component import AckFn, Input
from ...message import Batch, MetaSource, sourced_batch
from ...registry import register
from .. import _kafka

POLL_TIMEOUT = 0.1        # seconds the reader thread blocks in consume() at most
PACE_WAIT = 0.05         # a partition at checkpoint_limit: how long acks may take before it is paused
REVOKE_WAIT = 5.0         # on revoke, how long to wait for in-flight batches to be acked
MAX_FETCH = 10_000        # messages per consume() call at most


def parse_topics(items: list[str]) -> tuple[list[str], list[tuple[str, int]]]:
    """Bento's topic list: `foo`, `foo,bar`, `foo:0`, `foo:0-3`. Returns (plain topics, explicit
    (topic, partition) pairs); the two forms cannot be mixed."""
    plain: list[str] = []
    explicit: list[tuple[str, int]] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            topic, sep, spec = part.partition(":")
            if not topic:
                raise ValueError(f"topics: {part!r} has no topic name")
            if not sep:
                plain.append(topic)
                continue
            low, dash, high = spec.partition("-")
            try:
                first = int(low)
                last = int(high) if dash else first
            except ValueError:
                raise ValueError(f"topics: {part!r}: the partition must be a number or a range like 0-3") from None
            if first < 0 or last < first:
                raise ValueError(f"topics: {part!r}: bad partition range")
            explicit.extend((topic, p) for p in range(first, last + 1))
    if plain and explicit:
        raise ValueError("topics: explicit partitions (topic:partition) cannot be mixed with whole topics")
    if not plain and not explicit:
        raise ValueError("topics: at least one topic is required")
    return list(dict.fromkeys(plain)), list(dict.fromkeys(explicit))


class _Partition:
    """One assigned partition: its batches in offset order and what may be committed."""

    __slots__ = (
        "committed",
        "partition",
        "paused",
        "pending",
        "revoked",
        "revoking",
        "to_commit",
        "topic",
        "unacked",
    )

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.pending: collections.deque[_Chunk] = collections.deque()
        self.unacked = 0
        self.to_commit: int | None = None   # next offset to read, every message below it acked
        self.committed: int | None = None   # what was last sent as a commit
        self.revoking = False               # no more handing out
        self.revoked = False                # forgotten: acks no longer count
        self.paused = False


class _Chunk:
    """One batch: consecutive messages of one partition."""

    __slots__ = ("batch", "done", "end", "handed", "part")

    def __init__(self, part: _Partition, batch: Batch, end: int) -> None:
        self.part = part
        self.batch = batch
        self.end = end
        self.done = False
        self.handed = False


class KafkaInput(Input):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.addresses = _kafka.split_addresses(conf)
        self.topics, self.explicit = parse_topics(conf["topics"])
        self.group: str = conf.get("consumer_group") or ""
        if self.topics and not self.group:
            raise ValueError("consumer_group is required to consume whole topics "
                             "(or name explicit partitions as topic:partition)")
        self.checkpoint_limit = max(1, int(conf["checkpoint_limit"]))
        self.commit_period = float(conf["commit_period"] or 0.0)
        self.multi_header = bool(conf["multi_header"])
        self.replay_nacks = bool(conf["auto_replay_nacks"])
        # Without replays a nack is final (Bento deletes the message): the runtime must not re-send.
        self.supports_nack = not self.replay_nacks
        group = conf.get("group") or {}
        self.session_timeout = float(group.get("session_timeout") or 6.0)
        self.heartbeat_interval = float(group.get("heartbeat_interval") or 2.0)
        self.rebalance_timeout = float(group.get("rebalance_timeout") or 60.0)
        if self.heartbeat_interval >= self.session_timeout:
            raise ValueError("group.heartbeat_interval must be shorter than group.session_timeout")
        self.fetch = min(MAX_FETCH, max(self.checkpoint_limit, 1))
        self.consumer: Any = None
        self.state: _kafka.ConnectionState | None = None
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._waiting = 0  # threads waiting on _settled (under _lock): acks notify only then
        self._ready: collections.deque[_Chunk] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closing = False
        self._next_commit = 0.0
        self._unknown_logged: set[str] = set()

    # -- configuration -----------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        conf = self.conf
        config = _kafka.client_config(conf, self.addresses, lambda: self.log)
        config.update({
            "group.id": self.group or f"asyncgate-{id(self):x}",  # librdkafka wants one; unused without a group
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest" if conf["start_from_oldest"] else "latest",
            "session.timeout.ms": int(self.session_timeout * 1000),
            "heartbeat.interval.ms": int(self.heartbeat_interval * 1000),
            "max.poll.interval.ms": max(int(self.rebalance_timeout * 1000), int(self.session_timeout * 1000)),
            # librdkafka >= 2.2 pauses fetching for a whole second once its local queue is full; a
            # consumer that keeps up would stall on it every few hundred thousand messages.
            "fetch.queue.backoff.ms": 20,
            "error_cb": self._error_cb,
            "on_commit": self._on_commit,
        })
        if conf.get("rack_id"):
            config["client.rack"] = conf["rack_id"]
        if conf.get("instance_id"):
            config["group.instance.id"] = conf["instance_id"]
        return config

    # -- lifecycle ---------------------------------------------------------------------------
    async def connect(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED, Consumer, TopicPartition

        self._loop = asyncio.get_running_loop()
        self.state = _kafka.ConnectionState(self.where, self.addresses, self.log)
        await _kafka.probe(self.where, self.addresses)
        consumer = Consumer(self._config())
        try:
            await self._check_topics(consumer)
        except BaseException:
            await _kafka.run_blocking(consumer.close)
            raise
        self.consumer = consumer
        if self.explicit:
            if self.group:
                start = OFFSET_STORED  # the group's committed offset, else auto.offset.reset
            else:
                start = OFFSET_BEGINNING if self.conf["start_from_oldest"] else OFFSET_END
            for topic, partition in self.explicit:
                self._parts[(topic, partition)] = _Partition(topic, partition)
            consumer.assign([TopicPartition(t, p, start) for t, p in self.explicit])
        else:
            consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                               on_lost=self._on_lost)
        self._next_commit = time.monotonic() + self.commit_period
        self._thread = threading.Thread(target=self._run, name=f"kafka-input {self.where}", daemon=True)
        self._thread.start()
        self.log.info("%s: consuming %s from %s%s", self.where,
                      ", ".join(self.topics) or ", ".join(f"{t}:{p}" for t, p in self.explicit),
                      ", ".join(self.addresses), f" as group {self.group}" if self.group else "")

    async def _check_topics(self, consumer: Any) -> None:
        """Fail connect() with a clear message when the brokers do not answer in time or a topic
        (or an explicit partition) does not exist."""
        try:
            metadata = await _kafka.run_blocking(consumer.list_topics, None, _kafka.CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - KafkaException: reported with where and address
            raise ConnectionError(f"{self.where}: no metadata from Kafka at {', '.join(self.addresses)} "
                                  f"within {_kafka.CONNECT_TIMEOUT:.0f}s: {_kafka.describe(exc)}") from None
        wanted = self.topics or list(dict.fromkeys(t for t, _ in self.explicit))
        for topic in wanted:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                raise LookupError(f"{self.where}: topic {topic!r} does not exist on the Kafka cluster at "
                                  f"{', '.join(self.addresses)}")
        for topic, partition in self.explicit:
            if partition not in metadata.topics[topic].partitions:
                count = len(metadata.topics[topic].partitions)
                raise LookupError(f"{self.where}: topic {topic!r} has no partition {partition} "
                                  f"(it has {count})")

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            ready = self._ready
            while ready:
                chunk = ready.popleft()
                part = chunk.part
                if part.revoking or part.revoked:
                    continue  # the partition went to another consumer, which re-reads it
                chunk.handed = True
                return chunk.batch, self._ack_for(chunk)
            loop = self._loop or asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def _ack_for(self, chunk: _Chunk) -> AckFn:
        async def ack(error: BaseException | None) -> None:
            if error is not None:
                if self.replay_nacks:
                    return  # not delivered: never committed (the runtime re-sends it)
                self.log.warning("%s: %d message(s) not delivered and given up (auto_replay_nacks: false): %s",
                                 self.where, len(chunk.batch), error)
            self._settle(chunk)

        return ack

    def _settle(self, chunk: _Chunk) -> None:
        with self._lock:
            if chunk.done:
                return
            chunk.done = True
            part = chunk.part
            part.unacked -= len(chunk.batch)
            pending = part.pending
            while pending and pending[0].done:
                part.to_commit = pending.popleft().end + 1
            if self._waiting:
                self._settled.notify_all()

    def _wait_settled(self, timeout: float) -> None:
        """With _lock held: wait (at most TIMEOUT) for a batch to be settled."""
        self._waiting += 1
        try:
            self._settled.wait(timeout)
        finally:
            self._waiting -= 1

    def _push(self, chunks: list[_Chunk]) -> None:
        """On the event loop: new batches from the reader thread."""
        self._ready.extend(chunks)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        self._closing = True
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await _kafka.run_blocking(thread.join)
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await _kafka.run_blocking(self._shutdown, consumer)

    def _shutdown(self, consumer: Any) -> None:
        """In a worker thread: commit everything acked, then leave the group."""
        self._commit(consumer, sync=True)
        try:
            consumer.close()
        except Exception as exc:  # noqa: BLE001
            self.log.warning("%s: closing the Kafka consumer: %s", self.where, _kafka.describe(exc))

    # -- the reader thread -------------------------------------------------------------------
    def _run(self) -> None:
        consumer = self.consumer
        loop = self._loop
        assert loop is not None and self.state is not None
        failures = 0
        while not self._stop.is_set():
            self._pace(consumer)
            now = time.monotonic()
            if now >= self._next_commit:
                self._next_commit = now + self.commit_period
                self._commit(consumer, sync=False)
            try:
                msgs = consumer.consume(self.fetch, POLL_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - e.g. a fatal client error: log and keep trying
                failures += 1
                self.log.error("%s: consume failed: %s", self.where, _kafka.describe(exc))
                self._stop.wait(min(0.1 * 2 ** failures, 5.0))
                continue
            failures = 0
            if not msgs:
                continue
            chunks = self._chunks(consumer, msgs)
            if chunks:
                self.state.up()
                try:
                    loop.call_soon_threadsafe(self._push, chunks)
                except RuntimeError:  # the loop is closed: we are shutting down
                    return

    def _pace(self, consumer: Any) -> None:
        """`checkpoint_limit`: a partition with that many messages unacked is given a moment for acks
        to catch up (most outputs ack within it), and is paused if they do not; it is resumed once
        below the limit. (Pausing makes librdkafka drop its prefetched messages and fetch them again
        on resume, so it is kept for real backpressure.)"""
        from confluent_kafka import TopicPartition

        limit = self.checkpoint_limit
        pause: list[Any] = []
        resume: list[Any] = []
        with self._lock:
            if any(p.unacked >= limit and not p.paused and not p.revoked for p in self._parts.values()):
                self._wait_settled(PACE_WAIT)
            for part in self._parts.values():
                if part.revoked:
                    continue
                over = part.unacked >= limit
                if over and not part.paused:
                    part.paused = True
                    pause.append(TopicPartition(part.topic, part.partition))
                elif not over and part.paused:
                    part.paused = False
                    resume.append(TopicPartition(part.topic, part.partition))
        try:
            if pause:
                consumer.pause(pause)
            if resume:
                consumer.resume(resume)
        except Exception as exc:  # noqa: BLE001 - a partition revoked meanwhile
            self.log.debug("%s: pause/resume: %s", self.where, _kafka.describe(exc))

    def _chunks(self, consumer: Any, msgs: list[Any]) -> list[_Chunk]:
        """Messages as engine batches, one per partition, registered as pending."""
        from confluent_kafka import TopicPartition

        by_part: dict[tuple[str, int], list[Any]] = {}
        for m in msgs:
            if m.error() is not None:
                self._message_error(m)
                continue
            key = (m.topic(), m.partition())
            group = by_part.get(key)
            if group is None:
                by_part[key] = [m]
            else:
                group.append(m)
        chunks: list[_Chunk] = []
        multi = self.multi_header
        for (topic, partition), group in by_part.items():
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except Exception:  # noqa: BLE001 - no watermark known yet: lag unknown (0)
                high = -1
            # Metadata is made from the librdkafka message when something asks for it (MetaSource).
            source = MetaSource(functools.partial(_metadata, topic, partition, high, multi))
            batch = sourced_batch([m.value() or b"" for m in group], source, group)
            end = group[-1].offset()
            with self._lock:
                part = self._parts.get((topic, partition))
                if part is None or part.revoking or part.revoked:
                    continue
                chunk = _Chunk(part, batch, end)
                part.pending.append(chunk)
                part.unacked += len(batch)
            chunks.append(chunk)
        return chunks

    def _message_error(self, m: Any) -> None:
        from confluent_kafka import KafkaError

        error = m.error()
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.UNKNOWN_TOPIC_ID):
            topic = m.topic() or "?"
            if topic not in self._unknown_logged:
                self._unknown_logged.add(topic)
                self.log.error("%s: topic %r does not exist (any more) on the Kafka cluster at %s",
                               self.where, topic, ", ".join(self.addresses))
            return
        self.log.error("%s: Kafka consumer error: %s", self.where, _kafka.describe(error))

    def _commit(self, consumer: Any, sync: bool) -> None:
        """Commit, per partition, the offset below which everything was acked (when it moved)."""
        if not self.group:
            return
        from confluent_kafka import TopicPartition

        offsets: list[Any] = []
        with self._lock:
            for part in self._parts.values():
                if part.revoked or part.to_commit is None or part.to_commit == part.committed:
                    continue
                part.committed = part.to_commit
                offsets.append(TopicPartition(part.topic, part.partition, part.to_commit))
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=not sync)
        except Exception as exc:  # noqa: BLE001 - retried at the next period
            self._forget_commits(offsets)
            self.log.warning("%s: committing offsets failed (retried): %s", self.where, _kafka.describe(exc))

    def _forget_commits(self, offsets: list[Any]) -> None:
        with self._lock:
            for tp in offsets:
                part = self._parts.get((tp.topic, tp.partition))
                if part is not None and part.committed == tp.offset:
                    part.committed = None

    # -- librdkafka callbacks (reader thread, or the thread closing the consumer) -------------
    def _error_cb(self, error: Any) -> None:
        if self.state is not None:
            self.state.error_cb(error)

    def _on_commit(self, error: Any, offsets: list[Any]) -> None:
        if error is not None:
            self._forget_commits(offsets)
            self.log.warning("%s: offset commit failed (retried): %s", self.where, _kafka.describe(error))

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        with self._lock:
            for tp in partitions:
                self._parts[(tp.topic, tp.partition)] = _Partition(tp.topic, tp.partition)
        self.log.info("%s: assigned %s", self.where, _names(partitions))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Stop handing out the partitions' messages, let the batches in flight be acked (briefly),
        commit what was acked, then forget the partitions."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        with self._lock:
            parts = [p for p in (self._parts.get(k) for k in keys) if p is not None]
            for part in parts:
                part.revoking = True
            if not self._closing:
                deadline = time.monotonic() + min(REVOKE_WAIT, self.rebalance_timeout / 2)
                while any(c.handed and not c.done for p in parts for c in p.pending):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._wait_settled(left)
        self._commit(consumer, sync=True)
        self._forget(keys)
        self.log.info("%s: revoked %s", self.where, _names(partitions))

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._forget([(tp.topic, tp.partition) for tp in partitions])
        self.log.warning("%s: lost %s (not committed; they are re-read from the last commit)",
                         self.where, _names(partitions))

    def _forget(self, keys: list[tuple[str, int]]) -> None:
        with self._lock:
            for key in keys:
                part = self._parts.pop(key, None)
                if part is not None:
                    part.revoked = True
                    part.pending.clear()


def _metadata(topic: str, partition: int, high: int, multi: bool, m: Any) -> dict[str, Any]:
    """The metadata of the consumed message M (of TOPIC's PARTITION, whose high watermark was HIGH
    when it was read)."""
    key = m.key()
    value = m.value()
    offset = m.offset()
    ms = m.timestamp()[1]
    meta = {
        "kafka_key": key.decode("utf-8", "replace") if key is not None else "",
        "kafka_topic": topic,
        "kafka_partition": partition,
        "kafka_offset": offset,
        "kafka_lag": high - offset - 1 if high > offset else 0,
        "kafka_timestamp_unix": ms // 1000,
        "kafka_timestamp_ms": ms,
        "kafka_tombstone_message": value is None,
    }
    headers = m.headers()
    if headers:
        _add_headers(meta, headers, multi)
    return meta


def _add_headers(meta: dict[str, Any], headers: list[tuple[str, bytes | None]], multi: bool) -> None:
    """Headers as metadata: the first value of each (all of them, as a list, with MULTI). A header
    never replaces one of the input's own `kafka_*` fields."""
    own = set(meta) if multi else ()
    for name, value in headers:
        text = value.decode("utf-8", "replace") if value is not None else ""
        if multi:
            if name not in own:
                meta.setdefault(name, []).append(text)
        elif name not in meta:
            meta[name] = text


def _names(partitions: list[Any]) -> str:
    return ", ".join(f"{tp.topic}:{tp.partition}" for tp in partitions) or "nothing"


register(s.ComponentSpec(
    name="kafka", kind="input", category="services", aliases=("kafka_franz",),
    summary="Connects to Kafka brokers and consumes one or more topics.",
    description=(
        "Offsets are managed within Kafka under the specified consumer group, and partitions of each topic "
        "are balanced across the members of the group. Offsets are committed only for messages delivered "
        "downstream (at-least-once): per partition the highest offset below which every message was "
        "acknowledged is committed every `commit_period` and at shutdown, so after a clean shutdown a "
        "restarted consumer neither loses nor repeats messages.\n\n"
        "Messages of one partition are handed on in batches (one per partition per fetch); at most "
        "`checkpoint_limit` messages of a partition are in flight at once (the partition is paused until "
        "acknowledgements catch up).\n\n"
        "Explicit partitions can be consumed with a colon after the topic name, e.g. `foo:0`, or a range, "
        "`foo:0-10` (inclusive). They are assigned directly (no group balancing); the consumer group, if "
        "given, still stores their offsets.\n\n"
        "On a rebalance, messages of revoked partitions not yet handed on are dropped (the new owner reads "
        "them), in-flight ones are waited for briefly and what was acknowledged is committed.\n\n"
        "A nack (output failure) never commits: the batch is re-sent until delivered (`auto_replay_nacks`).\n\n"
        "`kafka_franz` is an alias with the same fields (`seed_brokers` is accepted for `addresses`).\n\n"
        "connect() fails with a message naming the input and the addresses when no broker is reachable, when "
        "the cluster's metadata does not arrive within 10s, or when a topic does not exist. A broker lost "
        "later is logged once; librdkafka reconnects by itself.\n\n"
        "### Metadata\n\n"
        "- kafka_key\n- kafka_topic\n- kafka_partition\n- kafka_offset\n- kafka_lag\n"
        "- kafka_timestamp_unix\n- kafka_timestamp_ms\n- kafka_tombstone_message\n"
        "- All existing message headers (the first value of each, or all of them as a list with `multi_header`)."
    ),
    config=s.obj(
        "kafka", "",
        _kafka.addresses_field(),
        _kafka.seed_brokers_field(),
        s.Field("topics", "string",
                "A list of topics to consume from. Several may be given in one item, separated by commas. "
                "Explicit partitions: `topic:partition` or `topic:first-last`.",
                kind="list", examples=(["foo", "bar"], ["foo,bar"], ["foo:0", "bar:1", "bar:3"],
                                       ["foo:0,bar:1,bar:3"], ["foo:0-5"])),
        s.unsupported("target_version", "The Kafka protocol version (librdkafka negotiates it)."),
        _kafka.tls_field(),
        _kafka.sasl_field(),
        s.string("consumer_group", "An identifier for the consumer group of the connection. Required for whole "
                                   "topics; may be empty with explicit partitions, in which case no offsets are "
                                   "stored.", ""),
        s.string("client_id", "An identifier for the client connection.", "asyncgate", advanced=True),
        s.string("instance_id", "A static group member id (Kafka static membership).", "", advanced=True),
        s.string("rack_id", "A rack identifier for this client (fetch from the closest replica).", "",
                 advanced=True),
        s.boolean("start_from_oldest", "Whether to start from the oldest available offset when the group has "
                                       "no committed offset for a partition (else the newest).", True,
                  advanced=True),
        s.integer("checkpoint_limit", "The maximum number of messages of one partition in flight (read but not "
                                      "yet acknowledged) at a time; any given offset is committed only when every "
                                      "message before it was delivered.", 1024),
        s.boolean("auto_replay_nacks", "Whether messages rejected (nacked) at the output are re-sent until "
                                       "delivered. If false they are given up (and their offsets committed).", True),
        s.unsupported("timely_nacks_maximum_wait", "Nack messages not acknowledged within this time."),
        s.duration("commit_period", "The period of time between each commit of acknowledged offsets.", "1s",
                   advanced=True),
        s.unsupported("max_processing_period", "A hint for how long a batch may take (librdkafka manages it)."),
        s.unsupported("extract_tracing_map", "A mapping extracting a tracing span from the message."),
        s.obj("group", "Tuning parameters for consumer group synchronization.",
              s.duration("session_timeout",
                         "A period after which a consumer of the group that sent no heartbeat is removed and "
                         "its partitions rebalanced. Also how long joining a group takes (about half of it): "
                         "AsyncGate's default is 6s (the smallest a stock Kafka broker accepts, a ~3s join) "
                         "where Bento has 10s.", "6s"),
              s.duration("heartbeat_interval", "The expected time between heartbeats to the group coordinator "
                                               "(must be well under `session_timeout`).", "2s"),
              s.duration("rebalance_timeout", "How long the group waits for members to rejoin during a "
                                              "rebalance (librdkafka's max.poll.interval.ms).", "60s"),
              default={}, advanced=True),
        s.unsupported("fetch_buffer_cap", "The number of unprocessed messages to fetch (librdkafka keeps its own "
                                          "prefetch queue)."),
        s.boolean("multi_header", "Decode headers into lists to allow several values for one key.", False,
                  advanced=True),
        s.batching_field(),
    ),
    factory=lambda conf, ctx: KafkaInput(conf),
    examples=(
        "input:\n  kafka:\n    addresses: [localhost:9092]\n    topics: [orders]\n    consumer_group: gateway",
        "input:\n  kafka:\n    addresses: [localhost:9092]\n    topics: [\"orders:0-3\"]\n    start_from_oldest: false",
    ),
))
