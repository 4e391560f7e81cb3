"""Pure-Python twin of _messages.pyx: the same messages, made through the class's own methods."""

from __future__ import annotations

from typing import Any


class MessageKit:
    __slots__ = ("_cls", "_shared", "_unset")

    def __init__(self, cls: type, unset: Any, shared_meta_type: type) -> None:
        self._cls = cls
        self._unset = unset
        self._shared = shared_meta_type

    def _inherit(self, meta: Any) -> Any:
        if not meta:
            return None
        return meta if type(meta) is self._shared else dict(meta)

    def build(self, parts: list[bytes], meta: Any) -> list[Any]:
        cls = self._cls
        return [cls(p, meta) for p in parts]

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
            new = cls(payload, inherit(msg._meta))
            new.error = msg.error
            out.append(new)
        return out

    def undecoded_payloads(self, batch: list[Any]) -> list[bytes | None]:
        unset = self._unset
        return [m._raw if m._structured is unset else None for m in batch]
