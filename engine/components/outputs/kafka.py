"""The `kafka` output (alias `kafka_franz`): writes messages to a Kafka topic through librdkafka.

`write` returns only once the broker's delivery report arrived for every message of the batch:
librdkafka calls the delivery callbacks from `poll()`, which a background thread runs; the last
report of a batch resolves the batch's future on the event loop (`call_soon_threadsafe`). A batch
with failed messages raises (`PartialDelivery` naming the failed ones when others went through), so
the input is never acked for a message the broker did not take.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from typing import Any

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch
from ...registry import register
from .. import _kafka

POLL_TIMEOUT = 0.1
FULL_QUEUE_WAIT = 0.005  # librdkafka's queue is full: wait this long (on the loop) and try again
PARTITIONERS = ("fnv1a_hash", "murmur2_hash", "random", "round_robin", "manual")
_RDKAFKA_PARTITIONER = {"fnv1a_hash": "fnv1a_random", "murmur2_hash": "murmur2_random", "random": "random",
                        "round_robin": "random", "manual": "random"}
COMPRESSIONS = ("none", "snappy", "lz4", "gzip", "zstd")


def _interp(text: str) -> Any:
    from ...bloblang import compile_interpolation

    return compile_interpolation(text)


class _Pending:
    """The delivery reports of one batch. Reports come from the poll thread (and, for messages that
    could not even be queued, from the event loop), so the count is kept under a lock; one extra
    count held while the batch is being queued keeps the future from resolving early."""

    __slots__ = ("errors", "future", "left", "lock", "loop")

    def __init__(self, count: int, future: asyncio.Future[dict[int, str]], loop: asyncio.AbstractEventLoop) -> None:
        self.left = count + 1
        self.errors: dict[int, str] = {}
        self.future = future
        self.loop = loop
        self.lock = threading.Lock()

    def report(self, index: int, error: Any) -> None:
        with self.lock:
            if error is not None:
                self.errors[index] = error if isinstance(error, str) else _kafka.describe(error)
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(_resolve, self.future, self.errors)

    def queued(self) -> None:
        """Every message of the batch was handed to librdkafka (or failed on the way)."""
        self.report(-1, None)


def _resolve(future: asyncio.Future[dict[int, str]], errors: dict[int, str]) -> None:
    if not future.done():
        future.set_result(errors)


class KafkaOutput(Output):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.addresses = _kafka.split_addresses(conf)
        self.topic = _interp(conf["topic"])
        self.key = _interp(conf["key"]) if conf["key"] else None
        self.partitioner = conf["partitioner"]
        if self.partitioner not in PARTITIONERS:
            raise ValueError(f"partitioner: {self.partitioner!r} is not one of {', '.join(PARTITIONERS)}")
        self.partition = _interp(conf["partition"]) if conf["partition"] else None
        if self.partitioner == "manual" and self.partition is None:
            raise ValueError("partition is required with partitioner: manual")
        if self.partitioner != "manual" and self.partition is not None:
            raise ValueError("partition is only used with partitioner: manual")
        self.timestamp = _interp(conf["timestamp_ms"]) if conf["timestamp_ms"] else None
        self.static_headers: dict[str, str] = {str(k): str(v) for k, v in (conf["static_headers"] or {}).items()}
        meta = conf["metadata"] or {}
        self.exclude_prefixes: list[str] = list(meta.get("exclude_prefixes") or [])
        self.include_prefixes: list[str] = list(meta.get("include_prefixes") or [])
        self.include_patterns = [re.compile(p) for p in meta.get("include_patterns") or []]
        self.all_metadata = not self.include_prefixes and not self.include_patterns
        self.timeout = float(conf["timeout"] or 5.0)
        self.max_in_flight = conf["max_in_flight"]
        self.producer: Any = None
        self.state: _kafka.ConnectionState | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._counts: dict[str, int] = {}
        self._next: dict[str, int] = {}
        self._stopping = False

    def _config(self) -> dict[str, Any]:
        conf = self.conf
        config = _kafka.client_config(conf, self.addresses, lambda: self.log)
        config.update({
            "partitioner": _RDKAFKA_PARTITIONER[self.partitioner],
            "compression.type": conf["compression"],
            "message.timeout.ms": max(1, int(self.timeout * 1000)),
            "acks": "all" if conf["ack_replicas"] else 1,
            "enable.idempotence": bool(conf["idempotent_write"]),
            "message.max.bytes": int(conf["max_msg_bytes"]),
            "linger.ms": 5,
            "error_cb": self._error_cb,
        })
        if conf.get("rack_id"):
            config["client.rack"] = conf["rack_id"]
        return config

    async def connect(self) -> None:
        from confluent_kafka import Producer

        self.state = _kafka.ConnectionState(self.where, self.addresses, self.log)
        await _kafka.probe(self.where, self.addresses)
        producer = Producer(self._config())
        try:
            await _kafka.run_blocking(producer.list_topics, None, _kafka.CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001
            raise ConnectionError(f"{self.where}: no metadata from Kafka at {', '.join(self.addresses)} "
                                  f"within {_kafka.CONNECT_TIMEOUT:.0f}s: {_kafka.describe(exc)}") from None
        self.producer = producer
        self._thread = threading.Thread(target=self._poll, name=f"kafka-output {self.where}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        """The background thread serving delivery reports (and error/log callbacks)."""
        producer = self.producer
        while not self._stop.is_set():
            producer.poll(POLL_TIMEOUT)

    async def write(self, batch: Batch) -> None:
        producer = self.producer
        if producer is None:
            raise ConnectionError(f"{self.where}: not connected")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[int, str]] = loop.create_future()
        pending = _Pending(len(batch), future, loop)
        for index, msg in enumerate(batch):
            try:
                topic, args = self._record(msg, batch, index)
                if self.partitioner == "round_robin":
                    args["partition"] = await self._round_robin(topic)
            except Exception as exc:  # noqa: BLE001 - this message cannot be sent: it fails alone
                pending.report(index, str(exc) or type(exc).__name__)
                continue

            def delivered(error: Any, _record: Any, index: int = index) -> None:
                pending.report(index, error)

            while True:
                try:
                    producer.produce(topic, msg.raw, on_delivery=delivered, **args)
                    break
                except BufferError:  # librdkafka's queue is full: let deliveries drain
                    if self._stopping:
                        pending.report(index, "shutting down with the producer queue full")
                        break
                    await asyncio.sleep(FULL_QUEUE_WAIT)
                except Exception as exc:  # noqa: BLE001 - e.g. message too large
                    pending.report(index, _kafka.describe(exc))
                    break
        pending.queued()
        failed = await future
        if not failed:
            if self.state is not None:
                self.state.up()
            return
        order = sorted(failed)
        if len(batch) == 1:
            raise ConnectionError(f"{self.where}: not delivered: {failed[order[0]]}")
        raise PartialDelivery([batch[i] for i in order], [failed[i] for i in order], len(batch))

    def _record(self, msg: Any, batch: Batch, index: int) -> tuple[str, dict[str, Any]]:
        topic = self.topic.render(msg, batch, index)
        if not topic:
            raise ValueError("the topic rendered empty")
        args: dict[str, Any] = {}
        if self.key is not None:
            args["key"] = self.key.render(msg, batch, index).encode()
        if self.partition is not None:
            text = self.partition.render(msg, batch, index)
            try:
                args["partition"] = int(text)
            except ValueError:
                raise ValueError(f"partition rendered {text!r}, not a partition number") from None
        if self.timestamp is not None:
            text = self.timestamp.render(msg, batch, index)
            try:
                args["timestamp"] = int(text)
            except ValueError:
                raise ValueError(f"timestamp_ms rendered {text!r}, not a number") from None
        headers = self._headers(msg)
        if headers:
            args["headers"] = headers
        return topic, args

    def _headers(self, msg: Any) -> list[tuple[str, bytes]]:
        headers = [(k, v.encode()) for k, v in self.static_headers.items()]
        if not msg.has_meta:
            return headers
        for name, value in msg.meta.items():
            if any(name.startswith(p) for p in self.exclude_prefixes):
                continue
            if not self.all_metadata and not (
                    any(name.startswith(p) for p in self.include_prefixes)
                    or any(p.search(name) for p in self.include_patterns)):
                continue
            if isinstance(value, list):
                headers.extend((name, _header_value(v)) for v in value)
            else:
                headers.append((name, _header_value(value)))
        return headers

    async def _round_robin(self, topic: str) -> int:
        count = self._counts.get(topic)
        if count is None:
            count = self._counts[topic] = await self._partition_count(topic)
        n = self._next.get(topic, random.randrange(count))
        self._next[topic] = (n + 1) % count
        return n

    async def _partition_count(self, topic: str) -> int:
        metadata = await _kafka.run_blocking(self.producer.list_topics, topic, _kafka.CONNECT_TIMEOUT)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise LookupError(f"topic {topic!r}: no partitions known"
                              + (f" ({_kafka.describe(info.error)})" if info is not None and info.error else ""))
        return len(info.partitions)

    def _error_cb(self, error: Any) -> None:
        if self.state is not None:
            self.state.error_cb(error)

    def stopping(self) -> None:
        self._stopping = True

    async def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await _kafka.run_blocking(thread.join)
        producer, self.producer = self.producer, None
        if producer is not None:
            left = await _kafka.run_blocking(producer.flush, self.timeout)
            if left:
                self.log.warning("%s: %d message(s) still unconfirmed at shutdown", self.where, left)


def _header_value(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    import orjson

    return orjson.dumps(value)


register(s.ComponentSpec(
    name="kafka", kind="output", category="services", aliases=("kafka_franz",),
    summary="The kafka output type writes a batch of messages to Kafka brokers and waits for acknowledgement "
            "before propagating it back to the input.",
    description=(
        "A write completes only when the broker's delivery report arrived for every message (librdkafka "
        "delivery callbacks, served by a background thread and resolved on the event loop). Messages the "
        "broker did not take within `timeout` fail the write, so the input is never acknowledged for them "
        "(only the failed messages of a batch are re-sent).\n\n"
        "The `topic`, `key`, `partition` and `timestamp_ms` fields are interpolated per message.\n\n"
        "`partitioner`: `fnv1a_hash` (the default, Sarama's hash partitioner; no key → random), "
        "`murmur2_hash` (the Java client's), `random`, `round_robin` (partitions in turn) or `manual` (the "
        "`partition` field).\n\n"
        "Metadata goes out as headers: every key except those under `metadata.exclude_prefixes` (Bento's "
        "`kafka` output), or only those matching `metadata.include_prefixes` / `include_patterns` when either "
        "is given (`kafka_franz`'s fields). `static_headers` are added to every message.\n\n"
        "`kafka_franz` is an alias with the same fields (`seed_brokers` is accepted for `addresses`).\n\n"
        "connect() fails with a message naming the output and the addresses when no broker is reachable or "
        "the cluster's metadata does not arrive within 10s."
    ),
    config=s.obj(
        "kafka", "",
        _kafka.addresses_field(),
        _kafka.seed_brokers_field(),
        _kafka.tls_field(),
        _kafka.sasl_field(),
        s.string("topic", "The topic to publish messages to.", interpolated=True,
                 examples=("events", '${! meta("kafka_topic") }-copy')),
        s.string("client_id", "An identifier for the client connection.", "asyncgate", advanced=True),
        s.unsupported("target_version", "The Kafka protocol version (librdkafka negotiates it)."),
        s.string("rack_id", "A rack identifier for this client.", "", advanced=True),
        s.string("key", "The key to publish messages with.", "", interpolated=True,
                 examples=('${! json("id") }',)),
        s.string("partitioner", "The partitioning algorithm to use.", "fnv1a_hash", options=PARTITIONERS),
        s.string("partition", "The partition to publish to, with `partitioner: manual`.", "", interpolated=True,
                 examples=('${! meta("partition") }',)),
        s.unsupported("custom_topic_creation", "Create the topic with custom settings if it does not exist."),
        s.string("compression", "The compression algorithm to use.", "none", options=COMPRESSIONS,
                 advanced=True),
        s.Field("static_headers", "string", "Headers added to every message.", default={}, kind="map",
                advanced=True, examples=({"first-static-header": "value-1"},)),
        s.obj("metadata", "Which metadata goes out as headers.",
              s.Field("exclude_prefixes", "string", "Metadata keys with these prefixes are not sent.",
                      default=[], kind="list", examples=(["kafka_"],)),
              s.Field("include_prefixes", "string", "Only metadata keys with these prefixes are sent "
                                                    "(`kafka_franz`).", default=[], kind="list"),
              s.Field("include_patterns", "string", "Only metadata keys matching these regular expressions are "
                                                    "sent (`kafka_franz`).", default=[], kind="list",
                      examples=([".*"], ["_timestamp_unix$"])),
              default={}, advanced=True),
        s.unsupported("inject_tracing_map", "A mapping injecting the tracing span into the message."),
        s.integer("max_in_flight", "The maximum number of batches to have in flight at a given time.", 64),
        s.boolean("idempotent_write", "Enable the idempotent write producer option.", False, advanced=True),
        s.boolean("ack_replicas", "Wait until every in-sync replica has the message before it counts as "
                                  "delivered.", False, advanced=True),
        s.integer("max_msg_bytes", "The maximum size in bytes of a request to the broker.", 1_000_000,
                  advanced=True),
        s.duration("timeout", "How long to wait for the broker's delivery report before the message fails.",
                   "5s", advanced=True),
        s.unsupported("retry_as_batch", "Retry a failed batch as a whole."),
        s.string("timestamp_ms", "The message's timestamp, in milliseconds since the epoch (default: now).", "",
                 interpolated=True, advanced=True, examples=("${! timestamp_unix_milli() }",)),
        s.batching_field(),
        s.unsupported("max_retries", "How many times a failed send is retried (the runtime re-sends nacked "
                                     "messages until they are delivered)."),
        s.unsupported("backoff", "Retry backoff (the runtime's redelivery backs off by itself)."),
    ),
    factory=lambda conf, ctx: KafkaOutput(conf),
    examples=(
        "output:\n  kafka:\n    addresses: [localhost:9092]\n    topic: events\n    key: '${! json(\"id\") }'",
        ("output:\n  kafka:\n    addresses: [localhost:9092]\n    topic: '${! meta(\"kafka_topic\") }-copy'\n"
         "    metadata:\n      exclude_prefixes: [kafka_]"),
    ),
))
