"""Codecs cut a byte stream into messages (inputs) and frame messages into bytes (outputs)."""

from __future__ import annotations

import codecs as _codecs

from .. import spec as s
from .._fast import framing

CODEC_FIELD = s.string(
    "codec", "How the bytes are cut into messages: `lines` (newline; a trailing \\r is dropped), "
    "`all-bytes` (the whole content is one message) or `delim:X` (a custom delimiter, with \\n, \\t, "
    "\\r, \\0 escapes).", "lines", options=("lines", "all-bytes", "delim:"), examples=("lines", "delim:\\t"))


def parse_delimiter(codec: str) -> bytes | None:
    """The delimiter a codec cuts at; None for `all-bytes`."""
    if codec == "lines":
        return b"\n"
    if codec == "all-bytes":
        return None
    if codec.startswith("delim:") and len(codec) > len("delim:"):
        return _codecs.decode(codec[len("delim:"):], "unicode_escape").encode("latin-1")
    raise ValueError(f'unknown codec "{codec}" (expected lines, all-bytes or delim:X)')


class Codec:
    """Incremental splitter: feed chunks, take complete messages; `finish` returns the tail."""

    __slots__ = ("delimiter", "strip_cr", "_rest", "_whole")

    def __init__(self, codec: str) -> None:
        self.delimiter = parse_delimiter(codec)
        self.strip_cr = codec == "lines"
        self._rest = b""
        self._whole: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.delimiter is None:
            self._whole.append(chunk)
            return []
        data = self._rest + chunk if self._rest else chunk
        parts, self._rest = framing.split(data, self.delimiter, False, self.strip_cr)
        return parts

    def feed_lines(self, chunk: bytes, final: bool = False) -> tuple[bytes, int] | list[bytes]:
        """For the `lines` codec: what `feed` (FINAL: feed, then `finish`) gives, as (the lines, each
        followed by b"\\n", as one bytes object; how many) when the chunk's lines are already so
        (`framing.pack_lines`), else the parts as `feed` gives them."""
        data = self._rest + chunk if self._rest else chunk
        packed = framing.pack_lines(data, final)
        if packed is None:
            parts, self._rest = framing.split(data, b"\n", final, True)
            return parts
        body, count, self._rest = packed
        return body, count

    def finish(self) -> list[bytes]:
        if self.delimiter is None:
            whole, self._whole = b"".join(self._whole), []
            return [whole] if whole else []
        rest, self._rest = self._rest, b""
        if not rest:
            return []
        parts, _ = framing.split(rest, self.delimiter, True, self.strip_cr)
        return parts

    def frame(self, payloads: list[bytes]) -> bytes:
        """Output side: each payload followed by the delimiter (all-bytes: concatenated).

        As in Bento, a payload that already ends with the delimiter gets no second one."""
        if self.delimiter is None:
            return b"".join(payloads)
        return framing.frame(payloads, self.delimiter)
