"""The `redis_pubsub` input: subscribes to Redis channels (or patterns) and emits what is published.

Pub/sub is at-most-once on Redis' side: what is published while the input is not subscribed (for
instance while the connection is being re-established) is not seen. A failed delivery is re-sent
by the runtime while the process runs.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ... import spec as s
from ...component import AckFn, Input, noop_ack
from ...message import Batch, Message
from ...registry import register
from .._redis import Backoff, LinkState, check_common, common_fields, is_connection_error, open_client, safe_url


class RedisPubsubInput(Input):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.url = check_common(conf)
        self.channels = [str(c) for c in conf["channels"] or []]
        if not self.channels:
            raise ValueError("channels: at least one channel is required")
        self.use_patterns = bool(conf["use_patterns"])
        # auto_replay_nacks off: a failed message is dropped instead of replayed.
        self.supports_nack = not conf["auto_replay_nacks"]
        self._client: Any = None
        self._pubsub: Any = None
        self._state: LinkState | None = None
        self._backoff = Backoff()

    @property
    def state(self) -> LinkState:
        if self._state is None:
            self._state = LinkState(self.log, self.where, safe_url(self.url))
        return self._state

    async def connect(self) -> None:
        self._client = await open_client(self.url, f"asyncgate:{uuid.uuid4().hex[:8]}", self.where)
        self._pubsub = self._client.pubsub()
        await self._subscribe()
        self.state.connected()

    async def _subscribe(self) -> None:
        if self.use_patterns:
            await self._pubsub.psubscribe(*self.channels)
        else:
            await self._pubsub.subscribe(*self.channels)

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            try:
                if not self.state.up and not self._pubsub.connection:
                    await self._subscribe()
                item = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                self.state.lost(exc)
                await self._reset()
                await asyncio.sleep(self._backoff.next())
                continue
            if not self.state.up:
                self.state.connected()
                self._backoff.reset()
            if item is None or item.get("type") not in ("message", "pmessage"):
                continue
            data = item["data"]
            if isinstance(data, str):
                data = data.encode()
            return [Message(data)], noop_ack

    async def _reset(self) -> None:
        """A fresh subscription: the next read connects again and subscribes."""
        old, self._pubsub = self._pubsub, self._client.pubsub()
        try:
            await old.aclose()
        except Exception:  # noqa: BLE001, S110
            pass
        try:
            await self._subscribe()
        except Exception as exc:  # noqa: BLE001 - retried by the next read
            self.log.debug("%s: subscribe failed: %s", self.where, exc)

    async def close(self) -> None:
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()
            except Exception:  # noqa: BLE001, S110
                pass
        if self._client is not None:
            await self._client.aclose()
            self._client = None


register(s.ComponentSpec(
    name="redis_pubsub", kind="input", category="services",
    summary="Consume from a Redis publish/subscribe channel using either the SUBSCRIBE or PSUBSCRIBE commands.",
    description=(
        "In order to subscribe to channels using the `PSUBSCRIBE` command set the field `use_patterns` to "
        "`true`, then you can include glob-style patterns in your channel names. For example:\n\n"
        "- `h?llo` subscribes to hello, hallo and hxllo\n- `h*llo` subscribes to hllo and heeeello\n"
        "- `h[ae]llo` subscribes to hello and hallo, but not hillo\n\n"
        "Use `\\` to escape special characters if you want to match them verbatim.\n\n"
        "Redis pub/sub keeps nothing: messages published while the input is not subscribed (for instance "
        "while a lost connection is being re-established, with backoff) are not received."),
    config=s.obj(
        "redis_pubsub", "",
        *common_fields(),
        s.string("channels", "A list of channels to consume from.", kind="list"),
        s.boolean("use_patterns", "Whether to use the PSUBSCRIBE command, allowing for glob-style patterns "
                  "within target channel names.", False),
        s.boolean("auto_replay_nacks", "Whether messages that are rejected (nacked) at the output level should "
                  "be automatically replayed indefinitely; off, they are dropped.", True),
    ),
    factory=lambda conf, ctx: RedisPubsubInput(conf, ctx),
    examples=("input:\n  redis_pubsub:\n    url: redis://127.0.0.1:6379\n    channels: [notifications]",),
))
