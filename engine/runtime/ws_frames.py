"""Pre-framed WebSocket sends: a small ASGI server extension for broadcast, offered by our own servers.

Through plain ASGI every message to every WebSocket client is one `websocket.send` event that the
server frames for that connection (wsproto, in Python) and writes with one socket write: with many
subscribers the per-connection framing and the per-message write (a syscall, which on loopback also
runs the receiver's side) dominate. The `http_server` output therefore builds each message's frame
once and, where the server offers this extension, hands the same bytes to every client, several
queued frames joined into one write.

The extension, in a WebSocket connection's ASGI scope:

    scope["extensions"]["asyncgate.websocket.frames"] = {"send": async callable(data: bytes)}

`data` is one or more complete, unmasked server-to-client WebSocket data frames (`frame(...)`), sent
as is, between the application's `websocket.accept` and its `websocket.close` (the handshake, the
close handshake, pings and pongs stay the server's). Sends are ordered with the server's own frames;
a write to a closed connection raises ConnectionResetError. A frame is sent with RSV1 unset, i.e.
uncompressed: valid whether or not permessage-deflate was negotiated (RFC 7692 §6).

`install_hypercorn()` adds the extension to Hypercorn's WebSocket streams (HTTP/1.1 and HTTP/2); it is
called by `asyncgate serve` and `asyncgate run` before they start Hypercorn. An application served by
any other server (or embedded in someone else's app and server) does not see the extension and uses
the plain ASGI path, with the same semantics.
"""

from __future__ import annotations

from typing import Any

EXTENSION = "asyncgate.websocket.frames"

_installed = False


def frame(payload: bytes, text: bool = False) -> bytes:
    """One unmasked, final WebSocket frame (binary, or text with TEXT) carrying PAYLOAD."""
    n = len(payload)
    first = 0x81 if text else 0x82
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


def install_hypercorn() -> bool:
    """Make Hypercorn's WebSocket streams offer the extension (once per process). False when this
    Hypercorn does not have the internals it relies on (the plain ASGI path is then used)."""
    global _installed
    if _installed:
        return True
    try:
        from hypercorn.protocol import h2 as h2_protocol
        from hypercorn.protocol import h11 as h11_protocol
        from hypercorn.protocol.events import Data
        from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
    except ImportError:
        return False
    if not all(hasattr(WSStream, name) for name in ("handle", "app_send", "_send_wsproto_event")):
        return False
    if h11_protocol.WSStream is not WSStream or h2_protocol.WSStream is not WSStream:
        return False  # someone else replaced it already: leave it alone
    connected = ASGIWebsocketState.CONNECTED

    class FramesWSStream(WSStream):  # type: ignore[misc, valid-type]
        """Hypercorn's WebSocket stream, with the frames extension in its scope."""

        def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(_WithFrames(app, self), *args, **kwargs)

        async def send_frames(self, data: bytes) -> None:
            if self.closed or self.state != connected:
                raise ConnectionResetError("the WebSocket connection is closed")
            await self.send(Data(stream_id=self.stream_id, data=data))

    h11_protocol.WSStream = FramesWSStream
    h2_protocol.WSStream = FramesWSStream
    _installed = True
    return True


class _WithFrames:
    """Hypercorn's app wrapper, adding the extension to the scope it passes on."""

    __slots__ = ("app", "stream")

    def __init__(self, app: Any, stream: Any) -> None:
        self.app = app
        self.stream = stream

    async def __call__(self, scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any) -> None:
        extensions = scope.get("extensions")
        if extensions is None:
            extensions = scope["extensions"] = {}
        extensions[EXTENSION] = {"send": self.stream.send_frames}
        return await self.app(scope, receive, send, sync_spawn, call_soon)
