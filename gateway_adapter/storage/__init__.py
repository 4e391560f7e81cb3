"""Where the gateway keeps what must outlive a request: keys, policies, rate-limit logs and quota counters.

Two layers, each behind a protocol so that the embedded default (this process's memory) and Redis (shared by
several gateway processes) are interchangeable:

- Records: JSON-ready records by id in one namespace ("keys", "policies"), with unique secondary indexes
  (e.g. a key's hash → its id) maintained atomically with the record. KeyStore and PolicyStore are built on it.
- Limiter (limits.py): sliding-window logs and quota counters, each check-then-count atomic.

`open_storage(url)` picks the implementation: "" or "memory" → memory; "redis://..." / "rediss://..." →
Redis (storage/redis.py). Redis being unreachable is an error the caller turns into a refusal (fail closed).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

class StorageError(RuntimeError):
    """The storage cannot be reached or answered nonsense: the request that needed it must be refused."""

# What a request refused for a StorageError is told (503; WebSocket close 1013), and when to retry (seconds).
UNAVAILABLE = "the gateway cannot check this request: its storage (keys, rate limits) does not answer; retry later"
UNAVAILABLE_RETRY_AFTER = 1

class DuplicateIndex(ValueError):
    """Another record already has this value in a unique index."""

    def __init__(self, index: str, value: str) -> None:
        self.index = index
        super().__init__(f"another record already has this {index}")

class Records(Protocol):
    """Records by id in one namespace, with unique indexes. Every method may do I/O and is atomic."""

    async def get(self, record_id: str) -> dict[str, Any] | None: ...

    async def list(self) -> list[dict[str, Any]]: ...

    async def put(self, record_id: str, record: Mapping[str, Any], index: Mapping[str, str] | None = None, *,
                  create: bool = False) -> bool:
        """Store RECORD under RECORD_ID with its INDEX values (index name → value), replacing the record's
        previous index values. CREATE: only when RECORD_ID is new (return False if it exists). Raises
        DuplicateIndex (and changes nothing) when another record holds one of the index values."""
        ...

    async def delete(self, record_id: str) -> bool: ...

    async def find(self, index: str, value: str) -> dict[str, Any] | None:
        """The record whose INDEX is VALUE, or None."""
        ...

    async def peek(self, index: str, value: str) -> Mapping[str, Any] | None:
        """`find` for a reader that changes nothing it gets (the lookup on every request): the record may be
        the stored one itself, not a copy."""
        ...

class MemoryRecords:
    """The embedded Records: dicts in this process (records are copied in and out, as Redis would)."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._indexed: dict[str, dict[str, str]] = {}  # record id → its index values
        self._index: dict[tuple[str, str], str] = {}  # (index, value) → record id

    async def get(self, record_id: str) -> dict[str, Any] | None:
        record = self._records.get(record_id)
        return copy.deepcopy(record) if record is not None else None

    async def list(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(r) for r in self._records.values()]

    async def put(self, record_id: str, record: Mapping[str, Any], index: Mapping[str, str] | None = None, *,
                  create: bool = False) -> bool:
        if create and record_id in self._records:
            return False
        index = dict(index or {})
        for name, value in index.items():
            holder = self._index.get((name, value))
            if holder is not None and holder != record_id:
                raise DuplicateIndex(name, value)
        self._unindex(record_id)
        self._records[record_id] = copy.deepcopy(dict(record))
        self._indexed[record_id] = index
        for name, value in index.items():
            self._index[(name, value)] = record_id
        return True

    async def delete(self, record_id: str) -> bool:
        if self._records.pop(record_id, None) is None:
            return False
        self._unindex(record_id)
        return True

    async def find(self, index: str, value: str) -> dict[str, Any] | None:
        record_id = self._index.get((index, value))
        return await self.get(record_id) if record_id is not None else None

    async def peek(self, index: str, value: str) -> Mapping[str, Any] | None:
        record_id = self._index.get((index, value))
        return self._records.get(record_id) if record_id is not None else None

    def _unindex(self, record_id: str) -> None:
        for name, value in self._indexed.pop(record_id, {}).items():
            if self._index.get((name, value)) == record_id:
                del self._index[(name, value)]

@dataclass
class Storage:
    """What one gateway keeps: a Records per namespace, and the limiter. SHARED: other gateway processes
    see the same records and counters (Redis)."""
    url: str
    namespaces: dict[str, Records]
    limiter: Any  # limits.Limiter
    shared: bool = False

    def records(self, namespace: str) -> Records:
        return self.namespaces[namespace]

    async def close(self) -> None:
        closer = getattr(self.limiter, "close", None)
        if closer is not None:
            await closer()

NAMESPACES = ("keys", "policies")

def open_storage(url: str = "") -> Storage:
    """The storage named by URL ("" or "memory": this process's memory; redis://host:port/db: Redis)."""
    from ..limits import MemoryLimiter

    if url in ("", "memory"):
        return Storage("memory", {name: MemoryRecords() for name in NAMESPACES}, MemoryLimiter())
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import open_redis_storage

        return open_redis_storage(url, NAMESPACES)
    raise ValueError(f"storage: {url!r} is not a storage URL (use memory, or redis://host:port/db)")
