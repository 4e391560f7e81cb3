"""The `redis_streams` output: appends each message to a Redis stream (XADD), the stream name
interpolated per message. A write returns once Redis answered every XADD and raises otherwise."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Message
from ...registry import register
from .._redis import PipelinedOutput, common_fields, field_value


class RedisStreamsOutput(PipelinedOutput, Output):
    COMMAND = "XADD"
    TARGET = "stream"

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        super().__init__(conf, ctx)
        self.body_key = conf["body_key"]
        if not self.body_key:
            raise ValueError("body_key: a key is required")
        self.max_length = int(conf["max_length"])
        if self.max_length < 0:
            raise ValueError("max_length must not be negative")
        self.exclude_prefixes = tuple((conf["metadata"] or {}).get("exclude_prefixes") or [])

    def _fields(self, msg: Message) -> dict[Any, Any]:
        fields: dict[Any, Any] = {}
        if msg.has_meta:
            prefixes = self.exclude_prefixes
            for key, value in msg.meta.items():
                if key != self.body_key and not (prefixes and key.startswith(prefixes)):
                    fields[key] = field_value(value)
        fields[self.body_key] = msg.raw
        return fields

    def queue(self, pipe: Any, target: str, msg: Message) -> None:
        pipe.xadd(target, self._fields(msg), maxlen=self.max_length or None, approximate=True)


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
