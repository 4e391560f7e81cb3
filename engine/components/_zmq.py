"""What the `zmq4` input and output share: URL lists, socket set-up and a shared asyncio context."""

from __future__ import annotations

from typing import Any

from .. import spec as s

_CONTEXT: Any = None


def context() -> Any:
    """One zmq.asyncio context for the process (ZeroMQ wants few contexts; sockets are cheap)."""
    global _CONTEXT
    import zmq.asyncio

    if _CONTEXT is None or _CONTEXT.closed:
        _CONTEXT = zmq.asyncio.Context()
    return _CONTEXT


def expand_urls(urls: list[str]) -> list[str]:
    """Bento: an item of the list holding commas is several URLs."""
    out = [u.strip() for item in urls for u in str(item).split(",") if u.strip()]
    if not out:
        raise ValueError("urls must list at least one address (e.g. tcp://127.0.0.1:5555)")
    return out


def urls_field(example: str) -> s.Field:
    return s.Field("urls", "string", "A list of URLs to connect to. If an item of the list contains commas it will "
                                     "be expanded into multiple URLs.", kind="list", examples=([example],))


def open_socket(kind: int, urls: list[str], bind: bool, setup: Any = None) -> Any:
    """A zmq.asyncio socket of KIND, bound to or connected to every URL; ConnectionError naming the
    URL that failed (an address in use, an unknown transport, a malformed endpoint)."""
    import zmq

    sock = context().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        if setup is not None:
            setup(sock)
        for url in urls:
            try:
                if bind:
                    sock.bind(url)
                else:
                    sock.connect(url)
            except zmq.ZMQError as exc:
                raise ConnectionError(f"cannot {'bind' if bind else 'connect'} {url}: {exc}") from None
    except BaseException:
        sock.close(0)
        raise
    return sock
