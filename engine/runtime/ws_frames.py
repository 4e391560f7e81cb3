"""Pre-framed WebSocket sends: a small ASGI server extension for broadcast, offered by our own servers.

Through plain ASGI every message to every WebSocket client is one `websocket.send` event that the
server frames for that connection (wsproto, in Python) and writes with one socket write: with many
subscribers the per-connection framing and the per-message write (a syscall, which on loopback also
runs the receiver's side) dominate. The `http_server` output therefore builds each message's frame
once and, where the server offers this extension, hands the same bytes to every client, several
queued frames joined into one write.

The extension, in a WebSocket connection's ASGI scope:

    scope["extensions"]["asyncgate.websocket.frames"] = {
        "send": async callable(data: bytes) -> None,
        "write": callable(data: bytes) -> bool,   # optional
    }

`data` is one or more complete, unmasked server-to-client WebSocket data frames (`frame(...)`), sent
as is, between the application's `websocket.accept` and its `websocket.close` (the handshake, the
close handshake, pings and pongs stay the server's). Sends are ordered with the server's own frames;
a send or write to a closed connection raises ConnectionResetError. A frame is sent with RSV1 unset,
i.e. uncompressed: valid whether or not permessage-deflate was negotiated (RFC 7692 §6).

- `send` writes DATA and waits until the connection's write buffer is below its high-water mark
  (backpressure), like the server's own sends.
- `write` (no await: a broadcast writes the same bytes to many connections in one loop) writes DATA
  at once and returns True, or writes nothing and returns False when it cannot now: the server is
  sending something else on that connection, or its write buffer is over the high-water mark. The
  caller then sends DATA (and whatever it has after it) with `await send(...)`. It may be absent (a
  server, or a wrapper, that offers only `send`; a server that must wrap frames in its own framing, as
  HTTP/2 DATA frames).

`install_hypercorn()` adds the extension to Hypercorn's WebSocket streams (HTTP/1.1, and HTTP/2 without
`write`); it is called by `asyncgate serve` and `asyncgate run` before they start Hypercorn. An
application served by any other server (or embedded in someone else's app and server) does not see the
extension and uses the plain ASGI path, with the same semantics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from .._fast import framing

EXTENSION = "asyncgate.websocket.frames"

_installed = False


def frame(payload: bytes, text: bool = False) -> bytes:
    """One unmasked, final WebSocket frame (binary, or text with TEXT) carrying PAYLOAD."""
    return framing.ws_frames([payload], text)[0]


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
            # The connection's send lock and transport, for `write_frames` (HTTP/1.1 over asyncio only).
            self._raw = _raw_connection(self.send, h11_protocol.H11Protocol)

        async def send_frames(self, data: bytes) -> None:
            if self.closed or self.state != connected:
                raise ConnectionResetError("the WebSocket connection is closed")
            await self.send(Data(stream_id=self.stream_id, data=data))

        def write_frames(self, data: bytes) -> bool:
            if self.closed or self.state != connected:
                raise ConnectionResetError("the WebSocket connection is closed")
            lock, transport, high_water = self._raw
            if transport.is_closing():
                raise ConnectionResetError("the WebSocket connection is closed")
            # The server's own sends (protocol_send) write and drain under the lock: never interleave
            # with one, nor grow a buffer the client is not reading.
            if lock.locked() or transport.get_write_buffer_size() > high_water:
                return False
            transport.write(data)
            return True

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

    def __call__(self, scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any) -> Awaitable[None]:
        # Not a coroutine itself: the application's is what Hypercorn awaits (one frame less per connection).
        extensions = scope.get("extensions")
        if extensions is None:
            extensions = scope["extensions"] = {}
        stream = self.stream
        if stream._raw is None:  # HTTP/2: frames must go out in DATA frames, only `send` can do that
            extensions[EXTENSION] = {"send": stream.send_frames}
        else:
            extensions[EXTENSION] = {"send": stream.send_frames, "write": stream.write_frames}
        return self.app(scope, receive, send, sync_spawn, call_soon)


def _raw_connection(stream_send: Any, h11_protocol_class: type) -> tuple[asyncio.Lock, Any, int] | None:
    """(send lock, transport, write high-water mark) of the HTTP/1.1 connection whose protocol's
    `stream_send` is STREAM_SEND, from Hypercorn's asyncio TCPServer (whose `protocol_send` writes and
    drains under `send_lock`); None for HTTP/2 (frames need DATA framing there) or another worker."""
    protocol = getattr(stream_send, "__self__", None)
    if not isinstance(protocol, h11_protocol_class):
        return None
    server = getattr(getattr(protocol, "send", None), "__self__", None)
    lock = getattr(server, "send_lock", None)
    transport = getattr(getattr(server, "writer", None), "transport", None)
    if not isinstance(lock, asyncio.Lock) or transport is None:
        return None
    try:
        _, high_water = transport.get_write_buffer_limits()
    except (AttributeError, NotImplementedError):
        return None
    return lock, transport, high_water
