"""Serving the endpoints of http_server components for `asyncgate run`.

The manager's route table is served on the config's `http.address` (default 127.0.0.1:4195) by
Hypercorn on the running event loop (uvloop under the CLI), only when some component registered
an endpoint. The socket is bound before the streams start, so a taken port is an error at once.
The server stops after the manager has finished: on SIGTERM the streams drain first (an
http_server output closes its clients with code 1001 when its stream stops), then the server.

Besides the components' endpoints, as in Bento: `GET /ping` (200 "pong") and `GET /ready` (200
while the streams run, 503 once they are stopping), unless a component serves those paths.
`http.root_path` is a prefix every endpoint is also served under (Bento serves endpoints both at
the root and behind the prefix).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .runtime.http import ASGIApp, Receive, RouteTable, Scope, Send, normalise, send_problem

if TYPE_CHECKING:
    from .runtime.manager import Manager

T = TypeVar("T")
DEFAULT_ADDRESS = "127.0.0.1:4195"
GRACEFUL_TIMEOUT = 3.0


class HttpServeError(Exception):
    """The HTTP server cannot be started (disabled while needed, bad address, port taken)."""


def parse_address(address: str) -> tuple[str, int]:
    """host and port of "host:port", "[v6]:port" or ":port" (all interfaces)."""
    text = address.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise HttpServeError(f'http.address "{address}": expected host:port (e.g. {DEFAULT_ADDRESS})')
    port = int(port_text)
    if port > 65535:
        raise HttpServeError(f'http.address "{address}": port {port} is out of range')
    host = host.strip("[]") or "0.0.0.0"
    return host, port


def bind_socket(address: str) -> socket.socket:
    host, port = parse_address(address)
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise HttpServeError(f'http.address "{address}": cannot resolve {host}: {exc.strerror}') from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(sockaddr)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise HttpServeError(f'http.address "{address}": cannot listen: {exc.strerror or exc}') from None
    sock.setblocking(False)
    return sock


class HttpService:
    """The route table (plus /ping, /ready and root_path) on one listening socket."""

    def __init__(self, routes: RouteTable, address: str = DEFAULT_ADDRESS, *, root_path: str = "",
                 ready: Callable[[], bool] = lambda: True, logger: logging.Logger | None = None) -> None:
        self.routes = routes
        self.root_path = normalise(root_path) if root_path.strip("/") else ""
        self.ready = ready
        self.log = logger or logging.getLogger("asyncgate.http")
        self.sock: socket.socket | None = bind_socket(address)
        host, port = self.sock.getsockname()[:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}{self.root_path}"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.routes(scope, receive, send)
            return
        root = self.root_path
        path = scope.get("path", "/")
        if root and (path == root or path.startswith(root + "/")):
            scope = dict(scope)
            scope["path"] = path[len(root):] or "/"
            scope["root_path"] = scope.get("root_path", "") + root
            path = scope["path"]
        if kind == "http" and path in ("/ping", "/ready") and self.routes.match("http", path) is None:
            await self._service_endpoint(path, send)
            return
        await self.routes(scope, receive, send)

    async def _service_endpoint(self, path: str, send: Send) -> None:
        if path == "/ping":
            body, status = b"pong", 200
        elif self.ready():
            body, status = b"OK", 200
        else:
            await send_problem(send, 503, "Service Unavailable", "the streams are stopping")
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def serve(self, shutdown_trigger: Callable[[], Awaitable[Any]]) -> None:
        """Serve until SHUTDOWN_TRIGGER returns, then finish open connections (a few seconds at most)."""
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        from .runtime.ws_frames import install_hypercorn

        install_hypercorn()  # pre-framed WebSocket sends for the http_server outputs
        if self.sock is None:
            raise HttpServeError("this server was already started")
        config = Config()
        config.bind = [f"fd://{self.sock.detach()}"]  # Hypercorn owns the socket from here
        self.sock = None
        config.accesslog = None
        config.errorlog = self.log
        config.graceful_timeout = GRACEFUL_TIMEOUT
        # No server pings: clients' pings are answered by the server, and Hypercorn's ping task
        # would keep each closed connection alive until its next ping (delaying shutdown).
        app: ASGIApp = self.app
        await serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")  # type: ignore[arg-type]

    async def run_while(self, work: Awaitable[T], stop: Callable[[], None] | None = None) -> T:
        """Serve while WORK runs; stop serving once it is done and return its result. Should the
        server fail first, STOP is called (to wind WORK down) and its end awaited."""
        finished = asyncio.Event()
        server = asyncio.ensure_future(self.serve(finished.wait))
        self.log.info("serving http_server endpoints on %s: %s", self.url,
                      ", ".join(f"{path} ({'websocket' if kind == 'websocket' else 'http'})"
                                for kind, path, _ in self.routes.paths()))
        job = asyncio.ensure_future(work)
        try:
            await asyncio.wait((job, server), return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                error = server.exception() if not server.cancelled() else None
                self.log.error("the HTTP server stopped unexpectedly%s; stopping the streams",
                               f": {error}" if error else "")
                if stop is not None:
                    stop()
            return await job
        finally:
            finished.set()
            if not job.done():
                job.cancel()
            try:
                await server
            except Exception as exc:  # noqa: BLE001 - reported, the streams' outcome decides the exit
                self.log.error("the HTTP server failed: %s", exc)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def prepare_http(manager: Manager, logger: logging.Logger | None = None) -> HttpService | None:
    """The HTTP server `asyncgate run` needs for MANAGER's endpoints, bound and ready to serve;
    None when no component registered an endpoint. Raises HttpServeError when the config disables
    HTTP although components need it, or the address cannot be listened on."""
    routes = manager.routes
    if not routes:
        return None
    http = manager.config.http or {}
    if http.get("enabled", True) is False:
        owners = sorted({owner for _, _, owner in routes.paths()})
        raise HttpServeError("http.enabled is false, but these components serve HTTP endpoints: "
                             + "; ".join(owners))
    return HttpService(routes, http.get("address") or DEFAULT_ADDRESS, root_path=http.get("root_path") or "",
                       ready=lambda: not getattr(manager, "_stopping", False),
                       logger=(logger or logging.getLogger("asyncgate")).getChild("http"))
