"""Shared parts of the Redis inputs and outputs (redis.asyncio): the common config fields, a client
with a clear connection error, and metadata ⇄ stream-entry conversion."""

from __future__ import annotations

import asyncio
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
