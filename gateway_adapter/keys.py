"""API keys in the Tyk session model, and where they are kept.

A key is created by the management API (`POST /_admin/keys`): the gateway draws a random key
(`secrets.token_urlsafe`), returns it once, and keeps only its hash: HMAC-SHA256 under a per-gateway secret
salt (`ASYNCGATE_KEY_SALT`; without it a random salt per process, which is enough for the in-memory store).
The hash is also the lookup index, so finding a presented key costs one HMAC and one dict lookup, with no
comparison that depends on how much of a key matched. Each key also has a public `id` (random, unrelated to
the key) that the management API uses; listings show ids and aliases, never keys or hashes.

Session fields (Tyk): `alias`, `rate`/`per`, `quota_max`/`quota_renewal_rate` (enforced per request by
limits.py), `expires` (unix seconds, 0 = never), `access_rights` ({api_id: {...}}: a key gives access only
to the APIs listed there — closed by default, unlike Tyk's legacy "empty means all"), `is_inactive`,
`meta_data`, `tags`, `policies` (ids of policies applied to the key: policies.py), and ours:
`message_rate`/`message_per` (the most messages each of the key's subscriptions is sent in any window).

Sessions are kept as Records (storage/): in memory by default, or in Redis shared by several gateways.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .storage import DuplicateIndex, MemoryRecords, Records

SALT_ENV = "ASYNCGATE_KEY_SALT"


class KeyError_(ValueError):
    """A session body that is not valid (the message says which field and why)."""


@dataclass
class Session:
    id: str
    key_hash: str
    alias: str = ""
    rate: float = 0.0
    per: float = 0.0
    quota_max: int = -1
    quota_renewal_rate: int = -1
    expires: int = 0
    access_rights: dict[str, Any] = field(default_factory=dict)
    is_inactive: bool = False
    meta_data: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    # At most message_rate messages in any message_per seconds to each of the key's subscriptions (0: the
    # API's x-asyncgate-message-rate, if any).
    message_rate: int = 0
    message_per: float = 0.0
    created: int = 0

    def expired(self, now: float | None = None) -> bool:
        return self.expires > 0 and (now if now is not None else time.time()) >= self.expires

    def allows(self, api_id: str) -> bool:
        return api_id in self.access_rights

    def public(self) -> dict[str, Any]:
        """The session as the management API shows it: never the key nor its hash."""
        values = dataclasses.asdict(self)
        del values["key_hash"]
        return values


# field → (types accepted, default)
Fields = dict[str, tuple[tuple[type, ...], Any]]
_FIELDS: Fields = {
    "alias": ((str,), ""),
    "rate": ((int, float), 0.0),
    "per": ((int, float), 0.0),
    "quota_max": ((int,), -1),
    "quota_renewal_rate": ((int,), -1),
    "expires": ((int,), 0),
    "access_rights": ((dict,), {}),
    "is_inactive": ((bool,), False),
    "meta_data": ((dict,), {}),
    "tags": ((list,), []),
    "policies": ((list,), []),
    "message_rate": ((int,), 0),
    "message_per": ((int, float), 0.0),
}
_IGNORED = {"id", "key", "key_hash", "created"}
# Fields that are counts or durations.
_NOT_NEGATIVE = {"rate", "per", "expires", "message_rate", "message_per", "key_expires_in"}


def session_fields(body: Any) -> dict[str, Any]:
    """The session fields of a management API body, checked; raises KeyError_ with a clear message."""
    return checked_fields(body, _FIELDS, _IGNORED, "key's session")


def checked_fields(body: Any, fields: Fields, ignored: set[str], what: str) -> dict[str, Any]:
    """The FIELDS of a management API BODY (a key's or a policy's), with defaults, type-checked; unknown
    fields (other than IGNORED) are refused. Raises KeyError_ naming the field and what is wrong with it."""
    if not isinstance(body, dict):
        raise KeyError_(f"the body must be a JSON object with the {what} fields")
    unknown = sorted(set(body) - set(fields) - ignored)
    if unknown:
        raise KeyError_(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for name, (types, default) in fields.items():
        value = body.get(name, default)
        if value is None:
            value = default
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            kinds = " or ".join(t.__name__ for t in types)
            raise KeyError_(f"{name}: expected {kinds}, got {type(value).__name__}")
        if name in _NOT_NEGATIVE and value < 0:
            raise KeyError_(f"{name}: must not be negative")
        values[name] = type(value)(value) if isinstance(value, (dict, list)) else value
    for name in ("tags", "policies"):
        if name in values and not all(isinstance(t, str) for t in values[name]):
            raise KeyError_(f"{name}: expected a list of strings")
    for api_id, rights in values.get("access_rights", {}).items():
        if not isinstance(rights, dict):
            raise KeyError_(f"access_rights.{api_id}: expected an object (e.g. {{\"api_id\": \"{api_id}\"}})")
    if (values.get("message_rate", 0) > 0) != (values.get("message_per", 0) > 0):
        raise KeyError_("message_rate and message_per: set both (at most message_rate messages in any "
                        "message_per seconds) or neither")
    return values


class KeyHasher:
    """HMAC-SHA256 of a key under a secret salt: the stored hash and the lookup index."""

    def __init__(self, salt: bytes | str | None = None) -> None:
        if salt is None:
            salt = os.environ.get(SALT_ENV) or secrets.token_bytes(32)
        self._salt = salt.encode() if isinstance(salt, str) else salt

    def __call__(self, key: str) -> str:
        return hmac.new(self._salt, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never show the salt
        return "KeyHasher(<secret salt>)"


class KeyStore:
    """Sessions on a Records namespace: by id, with the key's hash as a unique index (the lookup)."""

    def __init__(self, records: Records | None = None, hasher: KeyHasher | None = None) -> None:
        self.records: Records = records if records is not None else MemoryRecords()
        self.hash = hasher or KeyHasher()

    async def create(self, values: Mapping[str, Any]) -> tuple[str, Session]:
        """Store a new session; return (the key, shown once, and the session)."""
        while True:
            key = secrets.token_urlsafe(32)
            session = Session(id=secrets.token_hex(8), key_hash=self.hash(key), created=int(time.time()),
                              **dict(values))
            try:
                if await self.records.put(session.id, _record(session), _index(session), create=True):
                    return key, session
            except DuplicateIndex:  # a 256-bit key drawn twice: draw again
                continue

    async def get(self, key_id: str) -> Session | None:
        return _session(await self.records.get(key_id))

    async def list(self) -> list[Session]:
        sessions = [_session(r) for r in await self.records.list()]
        return sorted((s for s in sessions if s is not None), key=lambda s: (s.created, s.id))

    async def update(self, key_id: str, values: Mapping[str, Any]) -> Session | None:
        session = await self.get(key_id)
        if session is None:
            return None
        updated = dataclasses.replace(session, **dict(values))
        await self.records.put(key_id, _record(updated), _index(updated))
        return updated

    async def delete(self, key_id: str) -> bool:
        return await self.records.delete(key_id)

    async def lookup(self, key: str) -> Session | None:
        """The session of a presented key, or None."""
        return _session(await self.records.find("hash", self.hash(key)))


MemoryKeyStore = KeyStore  # the embedded default: KeyStore() keeps its records in memory


def _record(session: Session) -> dict[str, Any]:
    return dataclasses.asdict(session)


def _index(session: Session) -> dict[str, str]:
    return {"hash": session.key_hash}


_SESSION_FIELDS = {f.name for f in dataclasses.fields(Session)}


def _session(record: Mapping[str, Any] | None) -> Session | None:
    if record is None:
        return None
    # Fields a newer gateway wrote and this one does not know are ignored rather than fatal.
    return Session(**{k: v for k, v in record.items() if k in _SESSION_FIELDS})
