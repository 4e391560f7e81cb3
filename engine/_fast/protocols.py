"""The interfaces the Cython modules and their pure-Python twins both satisfy."""

from __future__ import annotations

from typing import Protocol


class Framing(Protocol):
    def split(self, data: bytes, delim: bytes, final: bool, strip_cr: bool) -> tuple[list[bytes], bytes]:
        """Cut DATA at each DELIM into non-empty parts; return them and the unterminated rest.

        With FINAL the rest is returned as a last part (if non-empty) and the rest is b"".
        With STRIP_CR a part's trailing b"\\r" is removed (CRLF line ends)."""
        ...

    def join(self, payloads: list[bytes], delim: bytes) -> bytes:
        """Each payload followed by DELIM, as one bytes object (what file/stdout outputs write)."""
        ...
