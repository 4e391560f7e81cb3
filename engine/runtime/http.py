"""The HTTP endpoints that http_server components serve, as a plain ASGI route table.

Components register an ASGI app per path; whoever serves HTTP mounts the table:
`asyncgate run` serves it on `http.address`, the gateway mounts each stream's table
under its API's listen path. No web framework here: the engine stays framework-free.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Literal, MutableMapping

import orjson

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RouteKind = Literal["http", "websocket"]

# A server may put a callable under this scope key: the http_server output calls it with each subscriber it
# serves for that request (once, when it subscribes), whose `delivered` count the server can read when the
# request ends (the gateway's analytics count what a subscription delivered, with no per-message cost).
SUBSCRIBER_HOOK = "asyncgate.subscriber"


class RouteTable:
    def __init__(self) -> None:
        self._routes: dict[tuple[RouteKind, str], tuple[ASGIApp, str]] = {}

    def add(self, path: str, app: ASGIApp, *, kind: RouteKind = "http", owner: str = "") -> None:
        """Serve APP at PATH (exact match); raises ValueError if the path is taken."""
        path = normalise(path)
        taken = self._routes.get((kind, path))
        if taken is not None:
            raise ValueError(f"{kind} path {path} is already served by {taken[1] or 'another component'}")
        self._routes[(kind, path)] = (app, owner)

    def remove_owner(self, owner: str) -> None:
        for key in [k for k, (_, o) in self._routes.items() if o == owner]:
            del self._routes[key]

    def match(self, kind: RouteKind, path: str) -> ASGIApp | None:
        found = self._routes.get((kind, normalise(path)))
        return found[0] if found else None

    def paths(self) -> list[tuple[RouteKind, str, str]]:
        return sorted((kind, path, owner) for (kind, path), (_, owner) in self._routes.items())

    def __bool__(self) -> bool:
        return bool(self._routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        app = self.match("websocket" if kind == "websocket" else "http", scope["path"])
        if app is not None:
            await app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": f"no endpoint at {scope['path']}"})
        else:
            await send_problem(send, 404, "Not Found", f"no endpoint at {scope['path']}")


def normalise(path: str) -> str:
    path = "/" + path.strip("/")
    return path


async def send_problem(send: Send, status: int, title: str, detail: str,
                       headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> None:
    """An RFC 9457 problem response."""
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
