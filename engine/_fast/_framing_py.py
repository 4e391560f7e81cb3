"""Pure-Python twin of _framing.pyx. bytes.split already runs in C; the cost left is the filtering."""

from __future__ import annotations

import re


def split(data: bytes, delim: bytes, final: bool, strip_cr: bool) -> tuple[list[bytes], bytes]:
    parts = data.split(delim)
    rest = parts.pop()
    if final and rest:
        parts.append(rest)
        rest = b""
    if strip_cr:
        parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
    return [p for p in parts if p], rest


def frame(payloads: list[bytes], delim: bytes) -> bytes:
    if not payloads:
        return b""
    if any(p.endswith(delim) for p in payloads):
        cut = len(delim)
        payloads = [p[:-cut] if p.endswith(delim) else p for p in payloads]
    return delim.join(payloads) + delim


def pack_lines(data: bytes, final: bool) -> tuple[bytes, int, bytes] | None:
    end = data.rfind(b"\n") + 1
    body, rest = data[:end], data[end:]
    if final and rest:
        body, rest = body + rest + b"\n", b""
    if body.startswith(b"\n") or b"\n\n" in body or b"\r\n" in body:
        return None
    return body, body.count(b"\n"), rest


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def ws_frame(payload: bytes, text: bool = False) -> bytes:
    n = len(payload)
    first = 0x81 if text else 0x82
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


def ws_frames(payloads: list[bytes], text: bool) -> list[bytes]:
    return [ws_frame(p, text) for p in payloads]


def sse_event(seq: int, payload: bytes) -> bytes:
    head = b"id: %d\n" % seq
    if b"\n" not in payload and b"\r" not in payload:
        return head + b"data: " + payload + b"\n\n"
    return head + b"".join(b"data: " + line + b"\n" for line in _LINE_BREAK.split(payload)) + b"\n"


def sse_events(first: int, payloads: list[bytes]) -> list[bytes]:
    return [sse_event(first + i, p) for i, p in enumerate(payloads)]
