"""Pure-Python twin of _jsonscan.pyx: the whole document is decoded (by msgspec, in C) and the
fields asked for are picked out. Same results; the saving only exists in the compiled module."""

from __future__ import annotations

from typing import Any, Iterable

import msgspec

_decode = msgspec.json.decode


class Projector:
    __slots__ = ("keys",)

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)
        if len(self.keys) > 64:
            raise ValueError("at most 64 keys")

    def project(self, data: Any) -> dict[str, Any] | None:
        if type(data) is not bytes:
            return None
        try:
            doc = _decode(data)
        except (ValueError, msgspec.DecodeError, RecursionError):
            return None
        if type(doc) is not dict:
            return None
        return {k: doc[k] for k in self.keys if k in doc}
