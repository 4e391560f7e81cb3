"""The unit that moves through a stream.

A message keeps the payload exactly as the source produced it. Metadata and the
structured (decoded JSON) view are created only when something asks for them, and
a message whose structure was never replaced leaves as the very bytes it came in as.
"""

from __future__ import annotations

from typing import Any, Iterator

import msgspec
import orjson

_decode_json = msgspec.json.decode
_UNSET: Any = object()


class Message:
    __slots__ = ("_raw", "_structured", "_meta", "error")

    def __init__(self, raw: bytes = b"", meta: dict[str, Any] | None = None) -> None:
        self._raw: bytes | None = raw
        self._structured: Any = _UNSET
        self._meta = meta
        self.error: str | None = None

    @classmethod
    def from_structured(cls, value: Any, meta: dict[str, Any] | None = None) -> "Message":
        msg = cls.__new__(cls)
        msg._raw = None
        msg._structured = value
        msg._meta = meta
        msg.error = None
        return msg

    # -- payload -----------------------------------------------------------
    @property
    def raw(self) -> bytes:
        """The payload as bytes; re-encoded only if the structure was replaced."""
        raw = self._raw
        if raw is None:
            raw = self._raw = encode_value(self._structured)
        return raw

    def set_raw(self, raw: bytes) -> None:
        self._raw = raw
        self._structured = _UNSET

    @property
    def structured(self) -> Any:
        """The payload parsed as JSON, decoded on first use.

        Raises ``ValueError`` naming the problem when the payload is not JSON.
        """
        value = self._structured
        if value is _UNSET:
            try:
                value = self._structured = _decode_json(self._raw)
            except msgspec.DecodeError as exc:
                raise ValueError(f"payload is not valid JSON: {exc}") from None
        return value

    def set_structured(self, value: Any) -> None:
        self._structured = value
        self._raw = None

    @property
    def has_structured(self) -> bool:
        return self._structured is not _UNSET

    # -- metadata ----------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        meta = self._meta
        if meta is None:
            meta = self._meta = {}
        return meta

    @property
    def has_meta(self) -> bool:
        return bool(self._meta)

    def copy(self) -> "Message":
        """A shallow copy: payload bytes are shared, metadata is copied, structure is not decoded."""
        msg = Message.__new__(Message)
        msg._raw = self._raw
        msg._structured = _UNSET if self._raw is not None else _deep_copy(self._structured)
        msg._meta = dict(self._meta) if self._meta else None
        msg.error = self.error
        return msg

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        body = self.raw
        shown = body[:60] + (b"..." if len(body) > 60 else b"")
        return f"Message({shown!r}, meta={self._meta!r}, error={self.error!r})"


def encode_value(value: Any) -> bytes:
    """Serialise a structured value the way Bento does: strings and bytes raw, the rest as JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


Batch = list[Message]


def batch_bytes(batch: Batch) -> int:
    return sum(len(m.raw) for m in batch)


def copy_batch(batch: Batch) -> Batch:
    return [m.copy() for m in batch]


def iter_payloads(batch: Batch) -> Iterator[bytes]:
    for m in batch:
        yield m.raw
