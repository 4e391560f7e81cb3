"""The `redis_pubsub` output: publishes each message to a Redis channel (PUBLISH), the channel
interpolated per message. A write returns once Redis answered every PUBLISH and raises otherwise.
Pub/sub keeps nothing: a message published while no one subscribes is gone (Redis semantics)."""

from __future__ import annotations

import uuid
from typing import Any

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch
from ...registry import register
from .._redis import LinkState, check_common, common_fields, is_connection_error, open_client, safe_url
from .redis_streams import compile_field


class RedisPubsubOutput(Output):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.url = check_common(conf)
        self.channel = compile_field("channel", conf["channel"])
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

    async def write(self, batch: Batch) -> None:
        errors: dict[int, str] = {}
        pipe = self._client.pipeline(transaction=False)
        sent: list[int] = []
        for index, msg in enumerate(batch):
            try:
                channel = self.channel.render(msg, batch, index)
                if not channel:
                    raise ValueError("channel: the interpolated channel name is empty")
                pipe.publish(channel, msg.raw)
                sent.append(index)
            except Exception as exc:  # noqa: BLE001
                errors[index] = f"{self.where}: {exc}"
        if sent:
            try:
                results = await pipe.execute(raise_on_error=False)
            except Exception as exc:
                if is_connection_error(exc):
                    self.state.lost(exc)
                raise ConnectionError(f"{self.where}: PUBLISH to Redis at {safe_url(self.url)} failed: {exc}") from exc
            self.state.connected()
            for index, result in zip(sent, results):
                if isinstance(result, BaseException):
                    errors[index] = f"{self.where}: PUBLISH failed: {result}"
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
