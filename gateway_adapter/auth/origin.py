"""The WebSocket `Origin` check (cross-site WebSocket hijacking).

Browsers send cookies with a WebSocket handshake from any site and do not apply CORS to it, so a page on
another site could open a connection with a visitor's credentials. When an API configures allowed origins —
Tyk's `x-tyk-api-gateway.middleware.global.cors` with `enabled: true` and `allowedOrigins: [...]` — a
WebSocket upgrade whose `Origin` is not in that list (`*` allows any) is refused with 403 before the
upgrade. A handshake without an `Origin` header (not a browser) is not affected. With no list configured,
nothing is checked.
"""

from __future__ import annotations

from typing import Any

from engine.runtime.http import Scope


def allowed_origins(document: dict[str, Any]) -> tuple[str, ...] | None:
    gateway = document.get("x-tyk-api-gateway") or {}
    middleware = gateway.get("middleware") if isinstance(gateway, dict) else None
    glob = middleware.get("global") if isinstance(middleware, dict) else None
    cors = glob.get("cors") if isinstance(glob, dict) else None
    if not isinstance(cors, dict) or cors.get("enabled") is not True:
        return None
    origins = cors.get("allowedOrigins")
    if not isinstance(origins, list):
        return None
    return tuple(str(o).rstrip("/").lower() for o in origins)


def origin_denial(scope: Scope, allowed: tuple[str, ...] | None) -> str | None:
    """Why this WebSocket upgrade is refused, or None when its origin is allowed (or not checked)."""
    if allowed is None or scope.get("type") != "websocket" or "*" in allowed:
        return None
    for name, value in scope.get("headers") or []:
        if name.lower() == b"origin":
            origin = value.decode("latin-1").strip().rstrip("/").lower()
            if origin in allowed:
                return None
            return "the WebSocket's Origin is not one of the API's allowed origins"
    return None
