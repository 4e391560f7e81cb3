"""The `redis_streams` output: appends each message to a Redis stream (XADD), the stream name
interpolated per message. A write returns once Redis answered every XADD and raises otherwise."""

from __future__ import annotations

import uuid
from typing import Any

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch, Message
from ...registry import register
from .._redis import LinkState, check_common, common_fields, field_value, is_connection_error, open_client, safe_url


def compile_field(name: str, text: str) -> Any:
    from ...bloblang import ParseError, compile_interpolation

    try:
        return compile_interpolation(text)
    except ParseError as exc:
        raise ValueError(f"{name}: line {exc.line} column {exc.column}: {exc.explanation}") from None


class RedisStreamsOutput(Output):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.url = check_common(conf)
        self.stream = compile_field("stream", conf["stream"])
        self.body_key = conf["body_key"]
        if not self.body_key:
            raise ValueError("body_key: a key is required")
        self.max_length = int(conf["max_length"])
        if self.max_length < 0:
            raise ValueError("max_length must not be negative")
        self.exclude_prefixes = tuple((conf["metadata"] or {}).get("exclude_prefixes") or [])
        self.max_in_flight = int(conf["max_in_flight"])
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._client: Any = None
        self._state: LinkState | None = None

    @property
    def state(self) -> LinkState:
        if self._state is None:
            self._state = LinkState(self.log, self.where, safe_url(self.url))
        return self._state

    async def connect(self) -> None:
        self._client = await open_client(self.url, f"asyncgate:{uuid.uuid4().hex[:8]}", self.where)
        self.state.connected()

    def _fields(self, msg: Message) -> dict[Any, Any]:
        fields: dict[Any, Any] = {}
        if msg.has_meta:
            prefixes = self.exclude_prefixes
            for key, value in msg.meta.items():
                if key != self.body_key and not (prefixes and key.startswith(prefixes)):
                    fields[key] = field_value(value)
        fields[self.body_key] = msg.raw
        return fields

    async def write(self, batch: Batch) -> None:
        errors: dict[int, str] = {}
        pipe = self._client.pipeline(transaction=False)
        sent: list[int] = []
        for index, msg in enumerate(batch):
            try:
                stream = self.stream.render(msg, batch, index)
                if not stream:
                    raise ValueError("stream: the interpolated stream name is empty")
                pipe.xadd(stream, self._fields(msg), maxlen=self.max_length or None, approximate=True)
                sent.append(index)
            except Exception as exc:  # noqa: BLE001
                errors[index] = f"{self.where}: {exc}"
        if sent:
            try:
                results = await pipe.execute(raise_on_error=False)
            except Exception as exc:
                if is_connection_error(exc):
                    self.state.lost(exc)
                raise ConnectionError(f"{self.where}: XADD to Redis at {safe_url(self.url)} failed: {exc}") from exc
            self.state.connected()
            for index, result in zip(sent, results):
                if isinstance(result, BaseException):
                    errors[index] = f"{self.where}: XADD failed: {result}"
        if not errors:
            return
        if len(batch) == 1:
            raise ConnectionError(errors[0])
        failed = sorted(errors)
        raise PartialDelivery([batch[i] for i in failed], [errors[i] for i in failed], total=len(batch))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


register(s.ComponentSpec(
    name="redis_streams", kind="output", category="services",
    summary="Pushes messages to a Redis (v5.0+) Stream (which is created if it doesn't already exist) using the "
            "XADD command.",
    description=(
        "It's possible to specify a maximum length of the target stream by setting it to a value greater than 0, "
        "in which case this cap is applied only when Redis is able to remove a whole macro node, for "
        "efficiency.\n\n"
        "Redis stream entries are key/value pairs, as such it is necessary to specify the key to be set to the "
        "body of the message. All metadata fields of the message will also be set as key/value pairs, if there "
        "is a key collision between a metadata item and the body then the body takes precedence.\n\n"
        "A write completes once Redis answered every XADD of the batch; a lost connection fails the write (so "
        "the input does not acknowledge) and is re-established on the next one."),
    config=s.obj(
        "redis_streams", "",
        *common_fields(),
        s.string("stream", "The stream to add messages to.", interpolated=True,
                 examples=("events", "events-${! meta(\"tenant\") }")),
        s.string("body_key", "A key to set the raw body of the message to.", "body"),
        s.integer("max_length", "When greater than zero enforces a rough cap on the length of the target "
                  "stream.", 0),
        s.integer("max_in_flight", "The maximum number of messages to have in flight at a given time.", 64),
        s.obj("metadata", "Specify optional matching rules to determine which metadata keys should be added to "
              "each stream entry.",
              s.string("exclude_prefixes", "Provide a list of explicit metadata key prefixes to be excluded when "
                       "adding metadata to sent messages.", kind="list", default=[]),
              default={"exclude_prefixes": []}),
        s.batching_field(),
    ),
    factory=lambda conf, ctx: RedisStreamsOutput(conf, ctx),
    examples=(("output:\n  redis_streams:\n    url: redis://127.0.0.1:6379\n    stream: events\n"
              "    max_length: 100000"),),
))
