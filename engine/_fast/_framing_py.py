"""Pure-Python twin of _framing.pyx. bytes.split already runs in C; the cost left is the filtering."""

from __future__ import annotations


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
