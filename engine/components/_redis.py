"""Shared parts of the Redis inputs and outputs (redis.asyncio): the common config fields, a client
with a clear connection error, and metadata ⇄ stream-entry conversion."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson

from .. import spec as s
from ._amqp import Backoff, LinkState  # noqa: F401 - shared connection-state helpers

CONNECT_TIMEOUT = 5.0


def common_fields() -> list[s.Field]:
    return [
        s.string("url", "The URL of the Redis server (`redis://`, `rediss://` for TLS, or `unix://`).",
                 examples=("redis://127.0.0.1:6379", "redis://:password@127.0.0.1:6379/0")),
        s.string("kind", "The kind of Redis deployment. Only `simple` (one server) is supported.", "simple",
                 options=("simple", "cluster", "failover"), advanced=True),
        s.unsupported("master", "The name of the Redis master when `kind` is `failover`."),
        s.unsupported("tls", "Custom TLS settings. A `rediss://` URL uses TLS with the system's CAs."),
    ]


def check_common(conf: dict[str, Any]) -> str:
    url = str(conf["url"]).strip()
    if not url:
        raise ValueError("url: a Redis URL is required")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"url: {url!r} is not a redis://, rediss:// or unix:// URL")
    if conf.get("kind", "simple") != "simple":
        raise ValueError(f"kind: {conf['kind']!r} is not supported (only simple)")
    return url


def safe_url(url: str) -> str:
    try:
        from yarl import URL

        parsed = URL(url)
        if parsed.password is not None:
            parsed = parsed.with_password("***")
        return str(parsed)
    except Exception:  # noqa: BLE001
        return url.split("@")[-1]


def make_client(url: str, name: str) -> Any:
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, client_name=name, socket_connect_timeout=CONNECT_TIMEOUT,
                                   socket_keepalive=True, health_check_interval=30)


async def open_client(url: str, name: str, where: str) -> Any:
    """A client that has answered a PING; raises ConnectionError naming the component and address."""
    client = make_client(url, name)
    try:
        await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT * 2)
    except asyncio.CancelledError:
        await client.aclose()
        raise
    except Exception as exc:
        await client.aclose()
        text = str(exc) or type(exc).__name__
        raise ConnectionError(f"{where}: cannot connect to Redis at {safe_url(url)}: {text}") from exc
    return client


def is_connection_error(exc: BaseException) -> bool:
    import redis.exceptions as rex

    return isinstance(exc, (rex.ConnectionError, rex.TimeoutError, ConnectionError, OSError,
                            asyncio.TimeoutError))


def text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def field_value(value: Any) -> bytes | str | int | float:
    """A metadata value as a stream-entry field value."""
    if isinstance(value, (bytes, str)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return orjson.dumps(value, default=str)


class PipelinedOutput:
    """What the Redis outputs share: one client, link-state logging, and a batch sent as one pipeline
    of per-message commands, with the messages Redis refused reported as a PartialDelivery.

    Subclasses set COMMAND and TARGET (the interpolated field naming the key or channel) and
    implement `queue(pipe, target, msg)`."""

    COMMAND = ""
    TARGET = ""

    def __init__(self, conf: dict[str, Any], ctx: Any = None) -> None:
        from ..bloblang import ParseError, compile_interpolation

        self.url = check_common(conf)
        try:
            self.target = compile_interpolation(conf[self.TARGET])
        except ParseError as exc:
            raise ValueError(f"{self.TARGET}: line {exc.line} column {exc.column}: {exc.explanation}") from None
        self.max_in_flight = int(conf["max_in_flight"])
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._client: Any = None
        self._state: LinkState | None = None

    @property
    def state(self) -> LinkState:
        if self._state is None:
            self._state = LinkState(self.log, self.where, safe_url(self.url))  # type: ignore[attr-defined]
        return self._state

    async def connect(self) -> None:
        self._client = await open_client(self.url, f"asyncgate:{uuid.uuid4().hex[:8]}",
                                         self.where)  # type: ignore[attr-defined]
        self.state.connected()

    def queue(self, pipe: Any, target: str, msg: Any) -> None:
        raise NotImplementedError

    async def write(self, batch: list[Any]) -> None:
        from ..component import PartialDelivery

        where = self.where  # type: ignore[attr-defined]
        errors: dict[int, str] = {}
        pipe = self._client.pipeline(transaction=False)
        sent: list[int] = []
        for index, msg in enumerate(batch):
            try:
                target = self.target.render(msg, batch, index)
                if not target:
                    raise ValueError(f"{self.TARGET}: the interpolated {self.TARGET} name is empty")
                self.queue(pipe, target, msg)
                sent.append(index)
            except Exception as exc:  # noqa: BLE001 - that message fails, the others go on
                errors[index] = f"{where}: {exc}"
        if sent:
            try:
                results = await pipe.execute(raise_on_error=False)
            except Exception as exc:
                if is_connection_error(exc):
                    self.state.lost(exc)
                raise ConnectionError(f"{where}: {self.COMMAND} to Redis at {safe_url(self.url)} failed: "
                                      f"{exc}") from exc
            self.state.connected()
            for index, result in zip(sent, results):
                if isinstance(result, BaseException):
                    errors[index] = f"{where}: {self.COMMAND} failed: {result}"
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
