"""The interfaces the Cython modules and their pure-Python twins both satisfy."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol


class Framing(Protocol):
    def split(self, data: bytes, delim: bytes, final: bool, strip_cr: bool) -> tuple[list[bytes], bytes]:
        """Cut DATA at each DELIM into non-empty parts; return them and the unterminated rest.

        With FINAL the rest is returned as a last part (if non-empty) and the rest is b"".
        With STRIP_CR a part's trailing b"\\r" is removed (CRLF line ends)."""
        ...

    def join(self, payloads: list[bytes], delim: bytes) -> bytes:
        """Each payload followed by DELIM, as one bytes object (what file/stdout outputs write)."""
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


class JsonScan(Protocol):
    Projector: Callable[[Iterable[str]], Projector]
