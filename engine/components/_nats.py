"""Shared parts of the `nats` and `nats_jetstream` inputs and outputs: config fields, connecting,
reconnection logging, message metadata and outgoing headers.

Connection handling (nats-py):

- `Connection.connect()` tries each URL once (no retry loop at start) and raises a `ConnectionError`
  naming the component and every address with its error, so a wrong address or refused credentials stop
  `asyncgate run` with a clear message instead of a silent wait.
- After that nats-py reconnects by itself (every 2 s, `max_reconnects` times; subscriptions are
  restored), and we log once when the connection is lost and once when it is back. If nats-py gives up,
  the connection is closed: inputs start a new one with backoff (`ensure`), outputs try one round per
  write and fail it meanwhile (the batch is retried).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Awaitable, Callable

import nats
from nats.aio.client import Client as NATS

from .. import spec as s

CONNECT_TIMEOUT = 5.0
RECONNECT_WAIT = 2.0
RECONNECT_BACKOFF_START = 0.2
RECONNECT_BACKOFF_MAX = 5.0


def connection_fields() -> list[s.Field]:
    return [
        s.string("urls", "A list of URLs to connect to. If an item of the list contains commas it will be "
                 "expanded into multiple URLs.", kind="list",
                 examples=(["nats://127.0.0.1:4222"], ["nats://username:password@127.0.0.1:4222"])),
        s.integer("max_reconnects", "The maximum number of times to attempt to reconnect to the server. If "
                  "negative, it will never stop trying to reconnect. Unset: 60 (every 2 s); after that "
                  "AsyncGate starts a new connection itself, with backoff.", None, advanced=True),
    ]


def security_fields() -> list[s.Field]:
    return [
        s.unsupported("tls", "Custom TLS settings. Not implemented: use a `tls://` URL for TLS with the "
                             "system's CAs."),
        s.unsupported("tls_handshake_first", "TLS before the NATS INFO exchange. Not implemented."),
        s.obj("auth", "Optional configuration of NATS authentication parameters.",
              s.unsupported("nkey_file", "An optional file containing a NKey seed (needs the `nkeys` library, "
                                         "not installed)."),
              s.unsupported("nkey", "The NKey seed (needs the `nkeys` library, not installed)."),
              s.unsupported("user_credentials_file", "An optional file containing user credentials which "
                                                     "consist of a user JWT and corresponding NKey seed."),
              s.unsupported("user_jwt", "An optional plain text user JWT (given along with the "
                                        "corresponding user NKey Seed)."),
              s.unsupported("user_nkey_seed", "An optional plain text user NKey Seed (given along with the "
                                              "corresponding user JWT)."),
              s.string("user", "An optional plain text user name (given along with the corresponding user "
                       "password).", None),
              s.string("password", "An optional plain text password (given along with the corresponding "
                       "user name).", None),
              s.string("token", "An optional plain text token.", None),
              default={}, advanced=True),
    ]


def metadata_field() -> s.Field:
    return s.obj(
        "metadata", "Determine which (if any) metadata values should be added to messages as headers.",
        s.string("include_prefixes", "Provide a list of explicit metadata key prefixes to match against.",
                 [], kind="list", examples=(["foo_", "bar_"], ["kafka_"])),
        s.string("include_patterns", "Provide a list of explicit metadata key regular expression (re2) "
                 "patterns to match against.", [], kind="list", examples=([".*"], ["_timestamp_unix$"])),
        default={}, advanced=True)


def headers_field() -> s.Field:
    return s.Field("headers", "string", "Explicit message headers to add to messages.", {}, kind="map",
                   interpolated=True, examples=({"Content-Type": "application/json",
                                                 "Timestamp": "${!meta(\"Timestamp\")}"},))


def split_urls(urls: list[str]) -> list[str]:
    out = [u.strip() for item in urls for u in str(item).split(",") if u.strip()]
    if not out:
        raise ValueError("urls: at least one NATS server URL is required")
    for url in out:
        if "://" in url and url.split("://", 1)[0].lower() not in ("nats", "tls", "ws", "wss"):
            raise ValueError(f"urls: unsupported scheme in {url!r} (nats, tls, ws, wss)")
    return out


def redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc).strip() or type(exc).__name__
    return text


class Connection:
    """A NATS connection with clear errors at start and one log line per state change."""

    def __init__(self, conf: dict[str, Any], where: str, log: logging.Logger) -> None:
        self.urls = split_urls(conf["urls"])
        self.where = where
        self.log = log
        self.max_reconnects = conf.get("max_reconnects")
        auth = conf.get("auth") or {}
        self.auth = {k: auth[k] for k in ("user", "password", "token") if auth.get(k)}
        self.nc: NATS | None = None
        self.state = "new"
        self._last_error: BaseException | None = None
        self._closing = False
        self._lock = asyncio.Lock()
        self.closed = asyncio.Event()  # set once nats-py gave up on the current connection
        self.on_reconnect: list[Callable[[NATS], Awaitable[None]]] = []

    @property
    def addresses(self) -> str:
        return ", ".join(redact(u) for u in self.urls)

    async def connect(self) -> NATS:
        """Connect once to the first URL that answers; raise naming every address tried."""
        errors: list[str] = []
        for i in range(len(self.urls)):
            servers = self.urls[i:] + self.urls[:i]
            nc = NATS()
            self.state = "connecting"
            self._last_error = None
            try:
                # The first attempt fails fast with its real error (nats-py would otherwise retry for
                # minutes); reconnecting is switched on once connected.
                await nc.connect(
                    servers=servers, name=self.where, allow_reconnect=False, dont_randomize=True,
                    connect_timeout=CONNECT_TIMEOUT, reconnect_time_wait=0.01, max_reconnect_attempts=1,
                    error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected, closed_cb=self._on_closed,
                    **self.auth,
                )
            except Exception as exc:  # noqa: BLE001 - every failure is reported with its address
                reason = self._last_error if isinstance(exc, nats.errors.NoServersError) and self._last_error \
                    else exc
                errors.append(f"{redact(servers[0])}: {describe(reason)}")
                try:
                    await nc.close()
                except Exception:  # noqa: BLE001
                    pass
                continue
            nc.options["allow_reconnect"] = True
            nc.options["reconnect_time_wait"] = RECONNECT_WAIT
            nc.options["max_reconnect_attempts"] = 60 if self.max_reconnects is None else int(self.max_reconnects)
            self.closed = asyncio.Event()
            self.nc = nc
            self.state = "connected"
            return nc
        self.state = "failed"
        raise ConnectionError(f"{self.where}: cannot connect to NATS server {'; '.join(errors)}")

    async def ensure(self, wait: bool = True) -> NATS:
        """The current connection, or a new one if nats-py gave up on the old (with backoff when WAIT)."""
        nc = self.nc
        if nc is not None and not nc.is_closed:
            return nc
        async with self._lock:
            nc = self.nc
            if nc is not None and not nc.is_closed:
                return nc
            delay = RECONNECT_BACKOFF_START
            while True:
                if self._closing:
                    raise ConnectionError(f"{self.where}: closed")
                try:
                    nc = await self.connect()
                except ConnectionError as exc:
                    if not wait:
                        raise
                    self.log.debug("%s (retrying in %.1fs)", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_BACKOFF_MAX)
                    continue
                self.log.warning("%s: connected again to NATS %s", self.where, self._server(nc))
                for hook in self.on_reconnect:
                    await hook(nc)
                return nc

    @staticmethod
    def _server(nc: NATS) -> str:
        url = nc.connected_url
        return f"{url.hostname}:{url.port}" if url is not None else "?"

    async def _on_error(self, exc: Exception) -> None:
        if self.state == "connecting":
            self._last_error = exc
        quiet = isinstance(exc, (OSError, asyncio.TimeoutError, nats.errors.UnexpectedEOF,
                                 nats.errors.StaleConnectionError))
        if quiet or self.state in ("connecting", "lost"):
            # Connection trouble: the state change itself is logged once by the callbacks below.
            self.log.debug("%s: NATS: %s", self.where, describe(exc))
        else:
            self.log.warning("%s: NATS error: %s", self.where, describe(exc))

    async def _on_disconnected(self) -> None:
        if self.state == "connected" and not self._closing:
            self.state = "lost"
            self.log.warning("%s: connection to NATS %s lost; reconnecting", self.where, self.addresses)

    async def _on_reconnected(self) -> None:
        self.state = "connected"
        nc = self.nc
        self.log.warning("%s: reconnected to NATS %s", self.where, self._server(nc) if nc else "")

    async def _on_closed(self) -> None:
        if self.nc is not None and self.nc.is_closed:
            self.closed.set()
        if not self._closing and self.state != "connecting":
            self.state = "closed"
            self.log.warning("%s: NATS connection closed (gave up reconnecting); starting a new one",
                             self.where)

    async def close(self) -> None:
        self._closing = True
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            # Drain, not just close: the server must have processed our UNSUBs before we are gone, or a
            # durable push consumer keeps delivering to our dead inbox until ack_wait runs out.
            try:
                await asyncio.wait_for(nc.drain(), 5.0)
            except Exception:  # noqa: BLE001 - going away anyway: fall back to a plain close
                try:
                    await asyncio.wait_for(nc.close(), 5.0)
                except Exception:  # noqa: BLE001
                    pass


class HeaderBuilder:
    """Outgoing NATS headers: the `headers` map (interpolated) plus metadata picked by `metadata`."""

    def __init__(self, conf: dict[str, Any]) -> None:
        from ..bloblang import ParseError, compile_interpolation

        self.headers = []
        for name, value in (conf.get("headers") or {}).items():
            try:
                self.headers.append((str(name), compile_interpolation(str(value))))
            except ParseError as exc:
                raise ValueError(f"headers.{name}: line {exc.line} column {exc.column}: {exc.explanation}") \
                    from None
        meta = conf.get("metadata") or {}
        self.prefixes = [str(p) for p in meta.get("include_prefixes") or []]
        patterns = []
        for p in meta.get("include_patterns") or []:
            try:
                patterns.append(re.compile(str(p)))
            except re.error as exc:
                raise ValueError(f"metadata.include_patterns: {p!r}: {exc}") from None
        self.patterns = patterns
        self.active = bool(self.headers or self.prefixes or self.patterns)

    def build(self, msg: Any, batch: Any, index: int) -> dict[str, str] | None:
        if not self.active:
            return None
        out: dict[str, str] = {}
        if (self.prefixes or self.patterns) and msg.has_meta:
            for key, value in msg.meta.items():
                if any(key.startswith(p) for p in self.prefixes) or any(p.search(key) for p in self.patterns):
                    out[key] = value if isinstance(value, str) else _text(value)
        for name, template in self.headers:
            out[name] = template.render(msg, batch, index)
        return out or None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import orjson

        return orjson.dumps(value).decode()
    return str(value)


def message_meta(msg: Any) -> dict[str, Any]:
    """Bento's metadata of a NATS message: subject, reply subject, then every header."""
    meta: dict[str, Any] = {"nats_subject": msg.subject}
    if msg.reply:
        meta["nats_reply_subject"] = msg.reply
    headers = msg.headers
    if headers:
        for key, value in headers.items():
            if value != "":
                meta.setdefault(key, value)
    return meta


__all__ = ["Connection", "HeaderBuilder", "connection_fields", "security_fields", "metadata_field",
           "headers_field", "message_meta", "split_urls", "describe", "nats"]
