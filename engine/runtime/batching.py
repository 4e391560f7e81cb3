"""Bento batch policies: flush on `count`, `byte_size` or after `period`."""

from __future__ import annotations

from typing import Any

from ..message import Batch


class BatchPolicy:
    __slots__ = ("count", "byte_size", "period", "_batch", "_bytes")

    def __init__(self, count: int = 0, byte_size: int = 0, period: float = 0.0) -> None:
        self.count = count
        self.byte_size = byte_size
        self.period = period
        self._batch: Batch = []
        self._bytes = 0

    @classmethod
    def from_config(cls, conf: dict[str, Any] | None) -> "BatchPolicy | None":
        """None when the policy would never batch (Bento: a count of 0 or 1 and nothing else)."""
        if not conf:
            return None
        count, size, period = conf.get("count", 0), conf.get("byte_size", 0), conf.get("period", 0.0)
        if count <= 1 and not size and not period:
            return None
        return cls(count, size, period)

    def add(self, batch: Batch) -> bool:
        """Add messages; True when the policy says flush now."""
        self._batch.extend(batch)
        if self.byte_size:
            self._bytes += sum(len(m.raw) for m in batch)
        return (self.count > 0 and len(self._batch) >= self.count) or (
            self.byte_size > 0 and self._bytes >= self.byte_size)

    def __len__(self) -> int:
        return len(self._batch)

    def flush(self) -> Batch:
        batch, self._batch, self._bytes = self._batch, [], 0
        return batch
