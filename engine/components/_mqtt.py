"""Shared parts of the `mqtt` input and output: config fields, broker URLs, connecting and reconnecting.

Built on aiomqtt (paho-mqtt 2 underneath, driven by the asyncio loop, no thread except for the
blocking TCP connect). Connection handling:

- `connect()` tries each URL once (bounded by `connect_timeout`) and raises a `ConnectionError` that
  names the component and every address tried, so `asyncgate run` stops with a clear message on a
  wrong address or a refused login instead of hanging.
- Once connected, a lost connection is noticed at once (socket closed) or by the keepalive, logged
  once, and re-established with backoff by the next `ready()` (one log line when it is back). Each
  connection is a fresh client; `generation` tells acks that belong to a previous connection apart.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import ssl
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as paho

from .. import spec as s

RECONNECT_BACKOFF_START = 0.1
RECONNECT_BACKOFF_MAX = 5.0

PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5,
             "5.0": aiomqtt.ProtocolVersion.V5, "3.1": aiomqtt.ProtocolVersion.V31}


def common_fields() -> list[s.Field]:
    """The connection fields the mqtt input and output share (Bento's order and defaults)."""
    return [
        s.string("urls", "A list of URLs to connect to. An item containing commas is expanded into several URLs. "
                 "Schemes: `tcp://` (or `mqtt://`), `ssl://` / `tls://` / `mqtts://` (TLS with the system's CAs), "
                 "`ws://`, `wss://`. When one address fails the next is tried.",
                 kind="list", examples=(["tcp://127.0.0.1:1883"],)),
        s.string("client_id", "An identifier for the client connection. Empty: one is generated. Use a fixed one "
                 "with `clean_session: false` to keep the broker's session (and its unacknowledged messages) "
                 "across restarts.", ""),
        s.string("dynamic_client_id_suffix", "Append a dynamically generated suffix to the specified `client_id` "
                 "on each run of the pipeline. This can be useful when clustering instances.",
                 None, options=("nanoid",), advanced=True),
        s.string("protocol_version", "The MQTT protocol version: `3.1.1` or `5` (an AsyncGate extension; Bento "
                 "speaks 3.1.1).", "3.1.1", options=tuple(PROTOCOLS), advanced=True),
        s.duration("connect_timeout", "The maximum amount of time to wait in order to establish a connection "
                   "before the attempt is abandoned.", "30s", examples=("1s", "500ms")),
        s.obj("will", "Set last will message in case of Benthos failure",
              s.boolean("enabled", "Whether to enable last will messages.", False),
              s.integer("qos", "Set QoS for last will message. Valid values are: 0, 1, 2.", 0, options=(0, 1, 2)),
              s.boolean("retained", "Set retained for last will message.", False),
              s.string("topic", "Set topic for last will message.", ""),
              s.string("payload", "Set payload for last will message.", ""),
              default={}, advanced=True),
        s.string("user", "A username to connect with.", "", advanced=True),
        s.string("password", "A password to connect with.", "", advanced=True),
        s.integer("keepalive", "Max seconds of inactivity before a keepalive message is sent.", 30, advanced=True),
        s.unsupported("tls", "Custom TLS settings (certificates, skip_cert_verify). Not implemented: use an "
                             "`ssl://` URL for TLS with the system's CAs."),
    ]


@dataclass(frozen=True)
class BrokerURL:
    text: str
    host: str
    port: int
    transport: str  # "tcp" or "websockets"
    tls: bool
    path: str | None


def parse_urls(urls: list[str]) -> list[BrokerURL]:
    out: list[BrokerURL] = []
    for item in urls:
        for text in (part.strip() for part in str(item).split(",")):
            if not text:
                continue
            if "://" not in text:
                text = "tcp://" + text
            parts = urlsplit(text)
            scheme = parts.scheme.lower()
            if scheme in ("tcp", "mqtt"):
                transport, tls, port = "tcp", False, 1883
            elif scheme in ("ssl", "tls", "mqtts", "tcps"):
                transport, tls, port = "tcp", True, 8883
            elif scheme == "ws":
                transport, tls, port = "websockets", False, 80
            elif scheme == "wss":
                transport, tls, port = "websockets", True, 443
            else:
                raise ValueError(f'urls: unsupported scheme "{scheme}" in {text!r} (tcp, ssl, ws, wss)')
            if not parts.hostname:
                raise ValueError(f"urls: no host in {text!r}")
            try:
                port = parts.port or port
            except ValueError:
                raise ValueError(f"urls: bad port in {text!r}") from None
            path = (parts.path or "/mqtt") if transport == "websockets" else None
            out.append(BrokerURL(text, parts.hostname, port, transport, tls, path))
    if not out:
        raise ValueError("urls: at least one broker URL is required")
    return out


class Client(aiomqtt.Client):
    """aiomqtt's client, handing out paho's own message objects (aiomqtt's drop the `dup` flag),
    with paho's manual acknowledgement switched on when asked for."""

    def __init__(self, *args: Any, manual_ack: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.manual_ack = manual_ack
        # Manual acks of this connection, in arrival order: [mid, qos, None | "ack" | "skip"].
        self.pending_acks: collections.deque[list[Any]] = collections.deque()
        if manual_ack:
            self._client.manual_ack_set(True)

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        self._queue.put_nowait(message)  # type: ignore[arg-type]  # unbounded: never full

    @property
    def queue(self) -> "asyncio.Queue[paho.MQTTMessage]":
        return self._queue  # type: ignore[return-value]

    @property
    def disconnected(self) -> "asyncio.Future[None]":
        return self._disconnected

    @property
    def alive(self) -> bool:
        return not self._disconnected.done() and self._client.is_connected()

    def ack(self, mid: int, qos: int) -> None:
        """Send PUBACK (QoS 1) / PUBCOMP (QoS 2) for a message received on this connection."""
        if self.alive:
            self._client.ack(mid, qos)


class Session:
    """One logical MQTT connection that survives broker restarts (a new client per connection)."""

    def __init__(self, conf: dict[str, Any], where: str, log: logging.Logger, *, manual_ack: bool = False,
                 subscriptions: list[tuple[str, int]] | None = None) -> None:
        self.urls = parse_urls(conf["urls"])
        self.where = where
        self.log = log
        self.manual_ack = manual_ack
        self.subscriptions = subscriptions or []
        client_id = conf.get("client_id") or ""
        if conf.get("dynamic_client_id_suffix") == "nanoid":
            client_id += secrets.token_urlsafe(15)[:21]
        # A clean session may let the broker pick; paho needs one for MQTT 3.1.1, so make one up.
        self.client_id = client_id or f"asyncgate-{uuid.uuid4().hex[:16]}"
        self.clean_session = bool(conf.get("clean_session", True))
        self.protocol = PROTOCOLS[str(conf.get("protocol_version") or "3.1.1")]
        self.connect_timeout = float(conf.get("connect_timeout") or 30.0)
        self.keepalive = int(conf.get("keepalive") or 30)
        if self.keepalive <= 0:
            raise ValueError("keepalive: must be a positive number of seconds")
        self.user = conf.get("user") or None
        self.password = conf.get("password") or None
        will = conf.get("will") or {}
        self.will = None
        if will.get("enabled"):
            if not will.get("topic"):
                raise ValueError("will.topic: a topic is required when the will is enabled")
            self.will = aiomqtt.Will(will["topic"], will.get("payload", ""), int(will.get("qos", 0)),
                                     bool(will.get("retained", False)))
        self.client: Client | None = None
        self.generation = 0
        self._next_url = 0
        self._state = "new"  # new -> connected -> lost -> connected ...
        self._lock = asyncio.Lock()
        self._closed = False
        self._dropping: set[asyncio.Future[None]] = set()

    @property
    def addresses(self) -> str:
        return ", ".join(u.text for u in self.urls)

    def _make_client(self, url: BrokerURL) -> Client:
        kwargs: dict[str, Any] = {}
        if self.protocol == aiomqtt.ProtocolVersion.V5:
            # MQTT 5 has clean_start instead of clean_session.
            kwargs["clean_start"] = True if self.clean_session else False
        else:
            kwargs["clean_session"] = self.clean_session
        client = Client(
            url.host, url.port, manual_ack=self.manual_ack,
            username=self.user, password=self.password, identifier=self.client_id,
            protocol=self.protocol, will=self.will, transport=url.transport,  # type: ignore[arg-type]
            timeout=self.connect_timeout, keepalive=self.keepalive,
            logger=self.log.getChild("paho"),
            tls_context=ssl.create_default_context() if url.tls else None,
            websocket_path=url.path,
            **kwargs,
        )
        client._client.connect_timeout = self.connect_timeout  # the TCP connect itself
        return client

    async def _connect_once(self) -> None:
        """Try each URL once, starting with the one after the last that worked; raise naming all."""
        errors: list[str] = []
        for attempt in range(len(self.urls)):
            url = self.urls[(self._next_url + attempt) % len(self.urls)]
            client = self._make_client(url)
            try:
                await asyncio.wait_for(client.__aenter__(), self.connect_timeout + 1)
            except (aiomqtt.MqttError, OSError, asyncio.TimeoutError) as exc:
                errors.append(f"{url.text}: {describe(exc)}")
                continue
            try:
                if self.subscriptions:
                    await self._subscribe(client)
            except Exception as exc:  # noqa: BLE001 - the subscription failing is a connect failure
                await self._drop(client)
                errors.append(f"{url.text}: {describe(exc)}")
                continue
            self._next_url = (self._next_url + attempt) % len(self.urls)
            self.client = client
            self.generation += 1
            return
        raise ConnectionError(f"{self.where}: cannot connect to MQTT broker {'; '.join(errors)}")

    async def _subscribe(self, client: Client) -> None:
        result = await client.subscribe(list(self.subscriptions), timeout=self.connect_timeout)
        for (topic, _), code in zip(self.subscriptions, result):
            value = code.value if hasattr(code, "value") else code
            if int(value) >= 0x80:
                raise ConnectionError(f'subscription to "{topic}" refused by the broker ({code})')

    async def connect(self) -> None:
        async with self._lock:
            await self._connect_once()
            self._state = "connected"
            self.log.info("connected to MQTT broker %s", self.urls[self._next_url].text)

    async def ready(self, wait: bool = True) -> Client:
        """The live client; reconnects (with backoff) if the connection was lost.

        With `wait=False` only one reconnection round is tried, and its failure raised."""
        client = self.client
        if client is not None and client.alive:
            return client
        async with self._lock:
            client = self.client
            if client is not None and client.alive:
                return client
            if client is not None:
                self.lost(None)
            delay = RECONNECT_BACKOFF_START
            while True:
                if self._closed:
                    raise ConnectionError(f"{self.where}: closed")
                try:
                    await self._connect_once()
                except ConnectionError as exc:
                    if not wait:
                        raise
                    self.log.debug("%s (retrying in %.1fs)", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_BACKOFF_MAX)
                    continue
                self.log.warning("%s: reconnected to MQTT broker %s", self.where, self.urls[self._next_url].text)
                self._state = "connected"
                assert self.client is not None
                return self.client

    def lost(self, exc: BaseException | None) -> None:
        """Note that the current connection is gone (logged once per loss)."""
        client = self.client
        if client is None:
            return
        self.client = None
        reason = exc
        if client.disconnected.done() and not client.disconnected.cancelled():
            reason = client.disconnected.exception() or reason
        if self._state != "lost":
            self._state = "lost"
            self.log.warning("%s: connection to MQTT broker %s lost (%s); reconnecting", self.where,
                             self.urls[self._next_url].text, describe(reason) if reason else "disconnected")
        task = asyncio.ensure_future(self._drop(client))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _drop(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), 2.0)
        except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
            pass
        if client.disconnected.done() and not client.disconnected.cancelled():
            client.disconnected.exception()  # retrieved: no "exception never retrieved" noise

    async def close(self) -> None:
        self._closed = True
        client, self.client = self.client, None
        if client is not None:
            await self._drop(client)


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
