"""The `websocket` input: a WebSocket client, each message it receives a message."""

from __future__ import annotations

import asyncio
import base64
import random
from typing import Any
from urllib.parse import urlsplit

from ... import spec as s
from ...component import AckFn, EndOfInput, Input, noop_ack
from ...message import Message
from ...registry import register

RECONNECT_START = 0.1
RECONNECT_MAX = 5.0
CONNECT_TIMEOUT = 10.0


class WebsocketInput(Input):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.url = conf["url"]
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f'url "{self.url}" is not a ws:// or wss:// URL')
        self.open_message: str = conf["open_message"]
        self.open_message_text = conf["open_message_type"] == "text"
        self.headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (conf["headers"] or {}).items()]
        basic = conf["basic_auth"]
        if basic["enabled"]:
            token = base64.b64encode(f'{basic["username"]}:{basic["password"]}'.encode()).decode()
            self.headers.append(("Authorization", f"Basic {token}"))
        max_retries = conf["connection"]["max_retries"]
        self.max_retries: int | None = None if max_retries is None or max_retries < 0 else max_retries
        self.supports_nack = not conf["auto_replay_nacks"]
        self.ws: Any = None
        self._lost = False  # the connection went away and has not come back yet
        self._closing = False

    async def _dial(self) -> Any:
        from websockets.asyncio.client import connect

        ws = await asyncio.wait_for(
            connect(self.url, additional_headers=self.headers or None, max_size=None, open_timeout=CONNECT_TIMEOUT),
            CONNECT_TIMEOUT + 1)
        if self.open_message:
            payload = self.open_message if self.open_message_text else self.open_message.encode()
            await ws.send(payload)
        return ws

    async def connect(self) -> None:
        # The first connection must succeed: a wrong address fails `asyncgate run` at once, with
        # the address in the error. Later losses are reconnected (see `read`).
        try:
            self.ws = await self._dial()
        except Exception as exc:  # noqa: BLE001 - reported with our address
            raise ConnectionError(f"cannot connect to {self.url}: {_reason(exc)}") from None
        self.log.info("%s: connected to %s", self.where, self.url)

    async def _reconnect(self) -> None:
        """Dial again with backoff until connected; EndOfInput once `connection.max_retries` is used up."""
        attempt = 0
        while not self._closing:
            if self.max_retries is not None and attempt >= self.max_retries:
                self.log.error("%s: giving up on %s after %d reconnection attempt(s)", self.where, self.url, attempt)
                raise EndOfInput
            delay = min(RECONNECT_START * (2 ** attempt), RECONNECT_MAX) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
            attempt += 1
            try:
                self.ws = await self._dial()
            except Exception as exc:  # noqa: BLE001 - keep trying; logged once per state change
                self.log.debug("%s: reconnecting to %s failed (attempt %d): %s", self.where, self.url, attempt,
                               _reason(exc))
                continue
            self._lost = False
            self.log.warning("%s: reconnected to %s", self.where, self.url)
            return
        raise EndOfInput

    async def read(self) -> tuple[list[Message], AckFn]:
        from websockets.exceptions import ConnectionClosed

        while True:
            if self.ws is None:
                await self._reconnect()
            try:
                data = await self.ws.recv()
            except ConnectionClosed as exc:
                self.ws = None
                if self._closing:
                    raise EndOfInput from None
                if not self._lost:
                    self._lost = True
                    self.log.warning("%s: connection to %s lost (%s); reconnecting", self.where, self.url,
                                     _reason(exc))
                if self.max_retries == 0:
                    raise EndOfInput from None
                continue
            payload = data.encode() if isinstance(data, str) else bytes(data)
            return [Message(payload)], noop_ack

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            ws, self.ws = self.ws, None
            try:
                await asyncio.wait_for(ws.close(), 2)
            except Exception as exc:  # noqa: BLE001 - closing anyway
                self.log.debug("%s: closing the connection: %s", self.where, _reason(exc))


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


register(s.ComponentSpec(
    name="websocket", kind="input", category="network",
    summary="Connects to a websocket server and continuously receives messages.",
    description=(
        "Each WebSocket message (text or binary) is a message. It is possible to configure an "
        "`open_message`, which is sent to the server each time a connection is established.\n\n"
        "The first connection is made when the stream starts and must succeed: a wrong address or a refused "
        "handshake stops `asyncgate run` with an error naming the URL. A connection lost later is re-established "
        "with backoff (0.1s doubling up to 5s, with jitter), logging once when it is lost and once when it is "
        "back; `connection.max_retries` bounds the consecutive attempts, after which the input ends.\n\n"
        "The server cannot redeliver: a nacked message is re-sent by AsyncGate (`auto_replay_nacks: true`) "
        "or dropped (`false`)."),
    config=s.obj(
        "websocket", "",
        s.string("url", "The URL to connect to.", examples=("ws://localhost:4195/get/ws",)),
        s.unsupported("proxy_url", "An optional HTTP proxy URL (not implemented)."),
        s.string("open_message", "An optional message to send to the server upon connection.", "", advanced=True),
        s.string("open_message_type", "The data type of open_message: `binary` or `text` (UTF-8).", "binary",
                 options=("binary", "text"), advanced=True),
        s.boolean("auto_replay_nacks", "Whether messages that are rejected (nacked) at the output level should be "
                                       "automatically replayed indefinitely. If false they are dropped.", True),
        s.Field("headers", "string", "AsyncGate extension: headers to send with the opening handshake.",
                default={}, kind="map", advanced=True, examples=({"Authorization": "Bearer ${TOKEN}"},)),
        s.unsupported("tls", "Custom TLS settings (not implemented: the system's trust store is used)."),
        s.obj("connection", "Customise how websocket connection attempts are made.",
              s.integer("max_retries", "An optional limit to the number of consecutive retry attempts that will be "
                                       "made before abandoning the connection altogether and gracefully terminating "
                                       "the input. If set to zero connections will never be reattempted upon a "
                                       "failure. If set below zero this field is ignored (effectively unset).",
                        -1, examples=(-1, 10)),
              default={}, advanced=True),
        s.unsupported("oauth"),
        s.obj("basic_auth", "Allows you to specify basic authentication.",
              s.boolean("enabled", "Whether to use basic authentication in requests.", False),
              s.string("username", "A username to authenticate as.", ""),
              s.string("password", "A password to authenticate with.", ""),
              default={}, advanced=True),
        s.unsupported("jwt"),
    ),
    factory=lambda conf, ctx: WebsocketInput(conf),
    examples=("input:\n  websocket:\n    url: ws://localhost:4195/get/ws",
              ('input:\n  websocket:\n    url: wss://example.com/feed\n    open_message: \'{"subscribe":"prices"}\'\n'
              "    open_message_type: text")),
))
