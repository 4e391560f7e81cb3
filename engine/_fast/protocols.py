"""The interfaces the Cython modules and their pure-Python twins both satisfy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class Framing(Protocol):
    def split(self, data: bytes, delim: bytes, final: bool, strip_cr: bool) -> tuple[list[bytes], bytes]:
        """Cut DATA at each DELIM into non-empty parts; return them and the unterminated rest.

        With FINAL the rest is returned as a last part (if non-empty) and the rest is b"".
        With STRIP_CR a part's trailing b"\\r" is removed (CRLF line ends)."""
        ...

    def frame(self, payloads: list[bytes], delim: bytes) -> bytes:
        """Each payload followed by DELIM, as one bytes object; a payload that already ends with DELIM
        gets no second one (what the file and stdout outputs write, as in Bento)."""
        ...

    def pack_lines(self, data: bytes, final: bool) -> tuple[bytes, int, bytes] | None:
        """What ``split(data, b"\\n", final, True)`` cuts, kept as one buffer: (the parts, each followed
        by b"\\n", as one bytes object; how many; the unterminated rest), when that needs no rewriting
        of DATA's complete lines (none empty, none ending with b"\\r"); else None,
        and the caller splits."""
        ...


    def ws_frames(self, payloads: list[bytes], text: bool) -> list[bytes]:
        """Each payload as one complete, final, unmasked server-to-client WebSocket frame (RFC 6455 §5.2):
        binary, or text with TEXT (the caller makes sure a text payload is valid UTF-8)."""
        ...

    def sse_events(self, first: int, payloads: list[bytes]) -> list[bytes]:
        """Each payload as one Server-Sent Event: `id: <n>` (FIRST, FIRST + 1, ...) and one `data:` field
        per line of it (CR, LF and CRLF all end a line), then the blank line that ends the event."""
        ...


class Projector(Protocol):
    """Reads the top-level fields KEYS of JSON objects (``Projector(keys).project(data)``)."""

    keys: tuple[str, ...]

    def project(self, data: bytes) -> dict[str, Any] | None:
        """The fields of KEYS present in the JSON object DATA, each exactly as ``msgspec.json.decode``
        decodes it (a repeated key: the last one), as a new dict.

        None when DATA is not bytes holding a JSON object, is not valid JSON, or holds anything the
        implementation leaves to a full decode (escaped keys, surrogate escapes, deep nesting): the
        caller then decodes the whole document, which gives the exact value or error."""
        ...


class FlatMap(Projector, Protocol):
    """A flat mapping run on JSON bytes (``FlatMap(keys, outputs).run(data)``).

    KEYS are the top-level input fields read; OUTPUTS a list of (name, program) in statement order,
    each program a postfix list of ("key", i) (the value of KEYS[i], null when absent),
    ("const", value) (None, bool, int, float or str) and ("op", "+" | "-" | "*" | "/") (Bloblang's
    arithmetic: numbers only; int with int stays int except for "/", a float result that is whole
    and within 2**53 becomes an int; division by zero is an error)."""

    def run(self, data: bytes) -> bytes | None:
        """The document {name: value, ...} as Bento prints it (compact JSON, sorted keys: what
        ``orjson.dumps(doc, option=OPT_SORT_KEYS)`` gives), or None when anything falls outside the
        above (an error, a non-number operand, a document left to a full decode): the caller then
        runs the general mapping, which gives the exact value or error."""
        ...

    def run_many(self, payloads: list[bytes | None]) -> list[bytes | None]:
        """``[run(p) for p in payloads]``, None for a payload that is None."""
        ...

    def run_lines(self, data: bytes) -> bytes | None:
        """The documents ``run`` makes of each line of DATA (cut at b"\\n"; a last line without one
        counts), each followed by b"\\n", as one bytes object; None when ``run`` gives None for any
        line (an empty one included): the caller then maps the lines one by one."""
        ...


class JsonScan(Protocol):
    Projector: Callable[[Iterable[str]], Projector]
    FlatMap: Callable[[Iterable[str], Iterable[tuple[str, list[tuple[str, Any]]]]], FlatMap]


class SlidingWindow(Protocol):
    """The times of the events of a sliding window, oldest first (``SlidingWindow(capacity)``: room
    for that many, up to 1024, before it grows). The rate limiters keep one per counter / subscriber."""

    def __len__(self) -> int: ...

    def expire(self, cutoff: float) -> int:
        """Drop the oldest times while they are at or before CUTOFF (they left the window
        ``(now - per, now]``: CUTOFF is ``now - per``); return how many are left."""
        ...

    def add(self, when: float, count: int = 1) -> None:
        """Log COUNT events at WHEN (none when COUNT <= 0)."""
        ...

    def until_leaves(self, index: int, per: float, now: float) -> float:
        """Seconds from NOW until the INDEX-th oldest time leaves a window of PER seconds
        (``time + per - now``); IndexError when there is no such time."""
        ...


class MessageKit(Protocol):
    """Messages made in bulk (``MessageKit(Message, UNSET, SharedMeta, MetaSource)``), exactly as
    engine/message.py makes them one by one; the compiled kit refuses a class whose slots it does
    not know (TypeError)."""

    def build(self, parts: list[bytes], meta: Any) -> list[Any]:
        """``[Message(p, meta) for p in parts]``."""
        ...

    def build_sourced(self, parts: list[bytes], source: Any, origins: list[Any]) -> list[Any]:
        """``[Message.sourced(p, source, o) for p, o in zip(parts, origins)]`` (ValueError when the
        lengths differ)."""
        ...

    def copy(self, batch: list[Any]) -> list[Any]:
        """``[m.copy() for m in batch]``."""
        ...

    def derive(self, batch: list[Any], payloads: list[Any]) -> list[Any]:
        """For each message and payload: None where the payload is None, else a new message with
        that payload, the message's metadata (``inherit_meta``; metadata not made yet stays so, from the
        same MetaSource and origin) and error flag, and no reply."""
        ...

    def undecoded_payloads(self, batch: list[Any]) -> list[bytes | None]:
        """Each message's payload bytes when its structured view was never decoded nor set (the
        bytes are then all there is to it), else None."""
        ...


class FanoutSubscriber(Protocol):
    """What `Fanout.dispatch` reads of a subscriber (engine/components/outputs/http_server.py's Subscriber)."""

    buffer: Any  # its backlog of frames; None while it is caught up
    window: Any  # its message-rate window, or None
    delivered: int
    bytes_written: int  # what its writes and sends took, in bytes (the gateway's bytes out)

    def write(self, data: bytes) -> bool:
        """Write DATA to its connection now (True), or nothing when it cannot now (False); raise when closed."""
        ...


class Fanout(Protocol):
    def dispatch(self, subscribers: list[Any], data: bytes,
                 count: int) -> tuple[int, list[Any], list[Any], list[Any]]:
        """Write DATA (COUNT messages) to each of SUBSCRIBERS that is caught up and has no message rate
        (``buffer`` and ``window`` None), adding COUNT to the ``delivered`` and len(DATA) to the
        ``bytes_written`` of each that took it. Returns
        (how many took it; those skipped, as they were not caught up or have a rate; those whose write
        returned False; those whose write raised an Exception, which is dropped), each list in
        SUBSCRIBERS' order. Exceptions that are not Exceptions (CancelledError...) propagate."""
        ...
