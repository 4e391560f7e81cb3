"""The gateway's catch-all ASGI app: a request goes to the API with the longest matching listen path, then to
the stream endpoint that serves the rest of the path. Anything else is a 404 problem (for a WebSocket, a
denial before the handshake)."""

from __future__ import annotations

from engine.runtime.http import Receive, Scope, Send

from .apis import RESERVED_PATHS
from .gateway import Gateway
from .problems import deny, not_found


def route_path(scope: Scope) -> str:
    """The path below where this app is mounted (Starlette keeps the mount prefix in both `path` and
    `root_path`; servers and frameworks that strip it leave `path` relative already)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        path = path[len(root):]
    return path or "/"


_RESERVED_PREFIXES = tuple(r + "/" for r in RESERVED_PATHS)


class GatewayRouter:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        path = route_path(scope)
        if path in RESERVED_PATHS or path.startswith(_RESERVED_PREFIXES):
            await not_found(scope, receive, send, path)
            return
        if self.gateway.stopped:
            await deny(scope, receive, send, 503, "Service Unavailable", "the gateway is shutting down",
                       close_code=1001)
            return
        found = self.gateway.route(path)
        if found is None:
            await not_found(scope, receive, send, path, f"no API serves {path}")
            return
        runtime, rest = found
        root = scope.get("root_path", "")
        if runtime.api.strip:
            root += runtime.api.prefix
        if self.gateway.traffic is not None:  # observed: metrics, analytics, tracing
            await self.gateway.traffic.handle(runtime, scope, receive, send, rest, path, root)
        else:
            await runtime.handle(scope, receive, send, rest, path, root)
