"""The `redis_pubsub` output: publishes each message to a Redis channel (PUBLISH), the channel
interpolated per message. A write returns once Redis answered every PUBLISH and raises otherwise.
Pub/sub keeps nothing: a message published while no one subscribes is gone (Redis semantics)."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output
from ...message import Message
from ...registry import register
from .._redis import PipelinedOutput, common_fields


class RedisPubsubOutput(PipelinedOutput, Output):
    COMMAND = "PUBLISH"
    TARGET = "channel"

    def queue(self, pipe: Any, target: str, msg: Message) -> None:
        pipe.publish(target, msg.raw)


register(s.ComponentSpec(
    name="redis_pubsub", kind="output", category="services",
    summary="Publishes messages through the Redis PubSub model. It is not possible to guarantee that messages "
            "have been received.",
    description="This output will interpolate functions within the channel field, you can find a list of "
                "functions in the Bloblang documentation. A write completes once Redis accepted every PUBLISH "
                "(whether anyone was subscribed or not).",
    config=s.obj(
        "redis_pubsub", "",
        *common_fields(),
        s.string("channel", "The channel to publish messages to.", interpolated=True,
                 examples=("notifications", "user-${! meta(\"user\") }")),
        s.integer("max_in_flight", "The maximum number of messages to have in flight at a given time.", 64),
        s.batching_field(),
    ),
    factory=lambda conf, ctx: RedisPubsubOutput(conf, ctx),
    examples=("output:\n  redis_pubsub:\n    url: redis://127.0.0.1:6379\n    channel: notifications",),
))
