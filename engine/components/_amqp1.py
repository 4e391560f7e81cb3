"""Shared parts of the `amqp_1` input and output (AMQP 1.0 with python-qpid-proton).

Proton's reactor is blocking, so each component runs its own proton Container in a daemon thread.
The asyncio side talks to it through `ProtonThread.call(fn)`: FN runs in the reactor thread (woken
through an EventInjector) and its result comes back as an awaitable; events from the reactor
(deliveries, dispositions, a lost connection) come back with `loop.call_soon_threadsafe`. Nothing
blocks the event loop, and proton objects are only ever touched by the reactor thread.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import spec as s
from ._amqp import Backoff, LinkState  # noqa: F401 - re-exported for the amqp_1 components

CONNECT_TIMEOUT = 10.0
SASL_MECHANISMS = ("none", "plain", "anonymous")


def split_urls(urls: list[str] | None) -> list[str]:
    """Bento lets one entry hold several comma-separated URLs."""
    out = [part.strip() for url in urls or [] for part in str(url).split(",") if part.strip()]
    if not out:
        raise ValueError("urls: at least one URL is required")
    for url in out:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"urls: {url!r} is not an amqp:// or amqps:// URL")
    return out


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def sasl_settings(conf: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for Container.connect from Bento's `sasl` block."""
    conf = conf or {}
    mechanism = str(conf.get("mechanism") or "none").lower()
    if mechanism not in SASL_MECHANISMS:
        raise ValueError(f"sasl.mechanism: {mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}")
    if mechanism == "plain":
        if not conf.get("user"):
            raise ValueError("sasl.user: required with mechanism plain")
        return {"allowed_mechs": "PLAIN", "user": str(conf["user"]), "password": str(conf.get("password") or ""),
                "allow_insecure_mechs": True}
    if mechanism == "anonymous":
        return {"allowed_mechs": "ANONYMOUS"}
    return {}  # none: whatever the URL says (its user:password means PLAIN, else ANONYMOUS)


def sasl_field() -> s.Field:
    return s.obj(
        "sasl", "Enables SASL authentication.",
        s.string("mechanism", "The SASL mechanism to use (`none`: the credentials of the URL, if any).", "none",
                 options=SASL_MECHANISMS),
        s.string("user", "A SASL plain text username.", "", examples=("${USER}",)),
        s.string("password", "A SASL plain text password.", "", examples=("${PASSWORD}",)),
        default={"mechanism": "none", "user": "", "password": ""}, advanced=True)


def urls_field() -> s.Field:
    return s.string(
        "urls", "A list of URLs to connect to. The first URL to successfully establish a connection is used "
        "until the connection is closed. An item holding commas is expanded into several URLs.", kind="list",
        examples=(["amqp://guest:guest@127.0.0.1:5672/"],
                  ["amqp://127.0.0.1:5672/,amqp://127.0.0.2:5672/"]))


def tls_field() -> s.Field:
    return s.unsupported("tls", "Custom TLS settings. An `amqps://` URL uses TLS with the system's CAs.")


def describe_condition(condition: Any) -> str:
    if condition is None:
        return "closed by the peer"
    name = getattr(condition, "name", "") or ""
    if name == "proton.pythonio":
        return getattr(condition, "description", "") or "connection failed"
    text = getattr(condition, "description", "") or ""
    if "unauthorized" in name or "auth" in name:
        return f"authentication refused ({name}: {text})" if text else f"authentication refused ({name})"
    return f"{name}: {text}" if text else name or str(condition)


def metadata_value(value: Any) -> Any:
    """An AMQP 1.0 value as metadata."""
    from proton import symbol

    if isinstance(value, symbol):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return bytes(value)
    if isinstance(value, dict):
        return {str(k): metadata_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [metadata_value(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class ProtonLink:
    """What the amqp_1 input and output share: their handler runs in a ProtonThread and its link is opened
    (and re-opened: one generation per connection) within CONNECT_TIMEOUT; the link's state is logged when
    it changes. Subclasses name their ROLE ("source"/"target"), their VERB and how to make their handler."""

    ROLE = ""
    VERB = ""
    where: str
    log: logging.Logger
    urls: list[str]
    _thread: ProtonThread | None = None
    _handler: Any = None
    _generation = 0
    _state: LinkState | None = None

    def terminus(self) -> str:
        raise NotImplementedError

    def new_handler(self) -> Any:
        raise NotImplementedError

    @property
    def state(self) -> LinkState:
        if self._state is None:
            address = ", ".join(safe_url(u) for u in self.urls)
            self._state = LinkState(self.log, self.where, f"{address} {self.ROLE} {self.terminus()!r}")
        return self._state

    async def connect(self) -> None:
        self._handler = self.new_handler()
        self._thread = ProtonThread(f"asyncgate {self.where} {self.terminus()}", self._handler)
        self._handler.thread = self._thread
        await self._open()
        self.state.connected()

    async def _open(self) -> None:
        assert self._thread is not None and self._handler is not None
        opening: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._generation += 1
        generation = self._generation
        handler = self._handler
        await self._thread.call(lambda: handler.start(generation, opening))
        try:
            await asyncio.wait_for(asyncio.shield(opening), CONNECT_TIMEOUT)
        except TimeoutError:
            await self._thread.call(handler.drop)
            raise ConnectionError(f"{self.where}: cannot {self.VERB} {self.state.address}: no answer within "
                                  f"{CONNECT_TIMEOUT:.0f}s") from None
        except ConnectionError as exc:
            raise ConnectionError(f"{self.where}: cannot {self.VERB} {self.state.address}: {exc}") from None


class ProtonThread:
    """A proton Container running in a daemon thread, with a thread-safe way to run code in it."""

    def __init__(self, name: str, handler: Any) -> None:
        from proton.reactor import Container, EventInjector

        self.loop = asyncio.get_running_loop()
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._injector = EventInjector()
        handler.on_asyncgate_call = self._drain
        self._handler = handler
        self.container = Container(handler)
        self.container.container_id = name
        self.container.selectable(self._injector)
        self._thread = threading.Thread(target=self._run, name=f"proton {name}", daemon=True)
        self._stopped = False
        self._thread.start()

    def _run(self) -> None:
        try:
            self.container.run()
        except Exception as exc:
            logging.getLogger(__name__).exception("proton reactor stopped")
            self._stopped = True
            owner = getattr(self._handler, "owner", None)
            if owner is not None:
                self.to_loop(owner.lost, -1, f"the AMQP 1.0 client thread stopped: {exc}")
        self._stopped = True

    def _drain(self, _event: Any = None) -> None:
        while self._calls:
            self._calls.popleft()()

    def call(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run FN in the reactor thread; the returned future holds its result or exception."""
        from proton.reactor import ApplicationEvent

        future: asyncio.Future[Any] = self.loop.create_future()
        if self._stopped:
            future.set_exception(ConnectionError("the AMQP 1.0 client thread has stopped"))
            return future

        def run() -> None:
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                self.to_loop(_set_exception, future, exc)
            else:
                self.to_loop(_set_result, future, result)

        self._calls.append(run)
        self._injector.trigger(ApplicationEvent("asyncgate_call"))
        return future

    def to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """From the reactor thread: run FN(*ARGS) on the event loop."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    async def stop(self) -> None:
        if self._stopped:
            return

        def shutdown() -> None:
            # Close the connection properly (so the broker gets unsettled messages back at once),
            # then stop the reactor once it is closed, or after 3s at the latest.
            handler = self._handler
            self._injector.close()
            if hasattr(handler, "stop_when_closed"):
                handler.stop_when_closed()
                self.container.schedule(3, _Stopper(self.container))
            else:
                self.container.stop()

        try:
            await asyncio.wait_for(self.call(shutdown), 5)
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5)


class _Stopper:
    def __init__(self, container: Any) -> None:
        self.container = container

    def on_timer_task(self, _event: Any) -> None:
        self.container.stop()


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class LinkHandler:
    """Reactor-side state of one connection with one link; subclassed per direction.

    Runs in the reactor thread only. `generation` tells a current connection from an old one, and
    `opening` is the asyncio future resolved once the link is attached (or failed)."""

    role = "link"

    def __init__(self, owner: Any, urls: list[str], address: str, sasl: dict[str, Any]) -> None:
        self.owner = owner
        self.urls = urls
        self.address = address
        self.sasl = sasl
        self.thread: ProtonThread | None = None
        self.conn: Any = None
        self.link: Any = None
        self.generation = 0
        self.opening: asyncio.Future[Any] | None = None
        self.live: set[int] = set()  # generations whose transport is not closed yet
        self.stopping = False

    def stop_when_closed(self) -> None:
        self.stopping = True
        self.drop()
        if not self.live:
            self.thread.container.stop()  # type: ignore[union-attr]

    # -- called through ProtonThread.call ------------------------------------------------------
    def start(self, generation: int, opening: asyncio.Future[Any]) -> None:
        self.drop()
        self.generation = generation
        self.opening = opening
        container = self.thread.container  # type: ignore[union-attr]
        self.conn = container.connect(urls=self.urls, reconnect=False, **self.sasl)
        self.conn.ag_generation = generation
        self.live.add(generation)
        self.link = self.make_link(container, self.conn)

    def make_link(self, container: Any, conn: Any) -> Any:
        raise NotImplementedError

    def drop(self) -> None:
        """Close the current connection (if any); what it had in flight is failed."""
        conn, self.conn, self.link = self.conn, None, None
        self.generation += 1
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 - already broken
                pass
        self.fail_pending("connection closed")

    def fail_pending(self, text: str) -> None:
        return None

    # -- events ---------------------------------------------------------------------------------
    def current(self, event: Any) -> bool:
        conn = getattr(event, "connection", None)
        return conn is not None and getattr(conn, "ag_generation", None) == self.generation and self.conn is not None

    def remote_terminus_ok(self, link: Any) -> bool:
        raise NotImplementedError

    def on_link_opened(self, event: Any) -> None:
        if not self.current(event):
            return
        if not self.remote_terminus_ok(event.link):
            return  # the peer refused the address: a detach with the reason follows
        if self.opening is not None:
            self.thread.to_loop(_set_result, self.opening, None)  # type: ignore[union-attr]
            self.opening = None

    def failed(self, event: Any, text: str) -> None:
        if not self.current(event):
            return
        generation = self.generation
        self.drop()
        if self.opening is not None:
            self.thread.to_loop(_set_exception, self.opening, ConnectionError(text))  # type: ignore[union-attr]
            self.opening = None
        else:
            self.thread.to_loop(self.owner.lost, generation, text)  # type: ignore[union-attr]

    def on_link_error(self, event: Any) -> None:
        self.failed(event, describe_condition(event.link.remote_condition))

    def on_link_closing(self, event: Any) -> None:
        self.failed(event, describe_condition(event.link.remote_condition))

    def on_connection_error(self, event: Any) -> None:
        self.failed(event, describe_condition(event.connection.remote_condition))

    def on_connection_closing(self, event: Any) -> None:
        self.failed(event, describe_condition(event.connection.remote_condition))

    def on_session_error(self, event: Any) -> None:
        self.failed(event, describe_condition(event.session.remote_condition))

    def on_session_closing(self, event: Any) -> None:
        self.failed(event, describe_condition(event.session.remote_condition))

    def on_transport_error(self, event: Any) -> None:
        condition = event.transport.condition
        self.failed(event, describe_condition(condition) if condition else "transport error")

    def on_transport_closed(self, event: Any) -> None:
        # Any connection, also one we closed (proton reports on_disconnected only for open ones).
        self.live.discard(getattr(getattr(event, "connection", None), "ag_generation", None))
        if self.stopping and not self.live:
            self.thread.container.stop()  # type: ignore[union-attr]

    def on_disconnected(self, event: Any) -> None:
        transport = getattr(event, "transport", None)
        condition = transport.condition if transport is not None else None
        self.failed(event, describe_condition(condition) if condition else "disconnected")
