"""Pure-Python twin of _messages.pyx: the same messages, made through the class's own methods."""

from __future__ import annotations

from typing import Any


class MessageKit:
    __slots__ = ("_cls", "_shared", "_source", "_unset")

    def __init__(self, cls: type, unset: Any, shared_meta_type: type, meta_source_type: type) -> None:
        self._cls = cls
        self._unset = unset
        self._shared = shared_meta_type
        self._source = meta_source_type

    def _inherit(self, msg: Any) -> tuple[Any, Any]:
        """(metadata, origin) for a message made from MSG (message.inherit_meta; metadata not made
        yet stays so, from the same source and origin)."""
        meta = msg._meta
        if type(meta) is self._source:
            return meta, msg._meta_origin
        if not meta:
            return None, None
        return (meta if type(meta) is self._shared else dict(meta)), None

    def build(self, parts: list[bytes], meta: Any) -> list[Any]:
        cls = self._cls
        return [cls(p, meta) for p in parts]

    def build_sourced(self, parts: list[bytes], source: Any, origins: list[Any]) -> list[Any]:
        if type(source) is not self._source:
            raise TypeError("not a MetaSource")
        if len(origins) != len(parts):
            raise ValueError("one origin per payload")
        sourced = self._cls.sourced
        return [sourced(p, source, o) for p, o in zip(parts, origins)]

    def copy(self, batch: list[Any]) -> list[Any]:
        return [m.copy() for m in batch]

    def derive(self, batch: list[Any], payloads: list[Any]) -> list[Any]:
        if len(payloads) != len(batch):
            raise ValueError("one payload per message")
        cls, inherit = self._cls, self._inherit
        out: list[Any] = []
        for msg, payload in zip(batch, payloads):
            if payload is None:
                out.append(None)
                continue
            new = cls(payload)
            new._meta, new._meta_origin = inherit(msg)
            new.error = msg.error
            out.append(new)
        return out

    def undecoded_payloads(self, batch: list[Any]) -> list[bytes | None]:
        unset = self._unset
        return [m._raw if m._structured is unset else None for m in batch]
