"""Shared parts of the `amqp_0_9` input and output (aio-pika): connecting to the first reachable
URL with a clear error, the shape of connection-state logging, metadata ⇄ AMQP properties."""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
from typing import Any

from .. import spec as s

CONNECT_TIMEOUT = 10.0
BACKOFF_START = 0.2
BACKOFF_MAX = 5.0


def tls_field() -> s.Field:
    return s.unsupported("tls", "Custom TLS settings. An `amqps://` URL uses TLS with the system's CAs.")


def split_urls(urls: list[str]) -> list[str]:
    """Bento lets one entry hold several comma-separated URLs."""
    out = [part.strip() for url in urls for part in str(url).split(",") if part.strip()]
    if not out:
        raise ValueError("urls: at least one URL is required")
    for url in out:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"urls: {url!r} is not an amqp:// or amqps:// URL")
    return out


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        from yarl import URL

        parsed = URL(url)
        if parsed.password is not None:
            parsed = parsed.with_password("***")
        return str(parsed)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown as is, minus nothing
        return url.split("@")[-1]


def describe_error(exc: BaseException) -> str:
    import aiormq.exceptions as ex

    text = str(exc) or type(exc).__name__
    if isinstance(exc, ex.ProbableAuthenticationError):
        return f"authentication refused: {text}"
    if isinstance(exc, ex.InvalidFrameError) and "Connection.Close" in text:
        return "the broker closed the connection while opening it (is the virtual host right, and may the user use it?)"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {CONNECT_TIMEOUT:.0f}s"
    return text


async def connect_first(urls: list[str], where: str, name: str) -> Any:
    """A connection to the first URL that accepts us; raises ConnectionError naming each one tried."""
    import aio_pika

    problems = []
    for url in urls:
        try:
            return await aio_pika.connect(url, timeout=CONNECT_TIMEOUT,
                                          client_properties={"connection_name": name})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its address
            problems.append(f"{safe_url(url)}: {describe_error(exc)}")
    raise ConnectionError(f"{where}: cannot connect to AMQP broker " + "; ".join(problems))


class Backoff:
    """Exponential backoff with jitter between reconnection attempts."""

    def __init__(self, start: float = BACKOFF_START, maximum: float = BACKOFF_MAX) -> None:
        self.start = start
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.start * (2 ** self.attempt), self.maximum)
        self.attempt += 1
        return delay * (0.5 + random.random() / 2)

    def reset(self) -> None:
        self.attempt = 0


class LinkState:
    """Logs a connection's state only when it changes (connected → lost → reconnected)."""

    def __init__(self, log: logging.Logger, where: str, address: str) -> None:
        self.log = log
        self.where = where
        self.address = address
        self.up = False
        self.ever = False
        self.last_error = ""

    def connected(self) -> None:
        if not self.up:
            if self.ever:
                self.log.warning("%s: reconnected to %s", self.where, self.address)
            else:
                self.log.info("%s: connected to %s", self.where, self.address)
        self.up = self.ever = True
        self.last_error = ""

    def lost(self, error: BaseException | str) -> None:
        text = str(error) or type(error).__name__
        if text.startswith(f"{self.where}: "):
            text = text[len(self.where) + 2:]
        if self.up:
            self.log.error("%s: connection to %s lost (%s); reconnecting with backoff", self.where, self.address, text)
        elif text != self.last_error:
            self.log.error("%s: still cannot reach %s: %s", self.where, self.address, text)
        self.up = False
        self.last_error = text


# -- metadata ------------------------------------------------------------------

def header_value(value: Any) -> Any:
    """An AMQP header value as metadata: bytes become text where they can."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return bytes(value)
    if isinstance(value, dict):
        return {str(k): header_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [header_value(v) for v in value]
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    return value


def to_header(value: Any) -> Any:
    """A metadata value as something an AMQP field table can carry."""
    if value is None or isinstance(value, (str, bool, int, float, bytes)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_header(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_header(v) for k, v in value.items()}
    return str(value)
