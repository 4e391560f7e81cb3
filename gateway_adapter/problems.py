"""Error answers: RFC 9457 problem JSON for HTTP; for WebSockets a denial before the handshake completes."""

from __future__ import annotations

from typing import Any

from engine.runtime.http import Receive, Scope, Send, send_problem

__all__ = ["send_problem", "deny", "not_found", "problem_body"]

PROBLEM_TYPE = "application/problem+json"


async def deny(scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str,
               close_code: int = 1008, headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> None:
    """Refuse a request. HTTP: a problem response. WebSocket: where the server supports the ASGI
    denial-response extension, the same problem response in place of the handshake; otherwise the
    handshake is refused with CLOSE_CODE and the detail as the reason (servers answer that with 403)."""
    if scope["type"] == "websocket":
        message = await receive()  # websocket.connect
        if message.get("type") != "websocket.connect":
            return
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send_problem(_ws_denial(send), status, title, detail, headers, **extra)
            return
        await send({"type": "websocket.close", "code": close_code, "reason": detail[:120]})
        return
    await send_problem(send, status, title, detail, headers, **extra)


def _ws_denial(send: Send) -> Send:
    async def denial(message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            message = {**message, "type": "websocket.http.response.start"}
        elif kind == "http.response.body":
            message = {**message, "type": "websocket.http.response.body"}
        await send(message)

    return denial


async def not_found(scope: Scope, receive: Receive, send: Send, path: str, detail: str | None = None) -> None:
    await deny(scope, receive, send, 404, "Not Found", detail or f"no endpoint at {path}")


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
