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

Keys for the other schemes (auth/):
- HTTP Basic: `basic_auth_data: {username, password}` in the management API body. The username is a unique
  index ("basic"; another key with that username → 409); of the password only an Argon2id hash (salted, slow)
  is kept and it is never returned. A verified username/password pair is remembered in this process as an
  HMAC digest of (key id, stored hash, password), so a client does not pay for Argon2 on every request, and a
  new password (a new stored hash) forgets it.
- HMAC request signatures: `hmac_enabled: true` draws an `hmac_string` secret, returned once (in the answer
  that switched it on) and never shown by GET. Unlike a key, it cannot be kept as a one-way hash: checking a
  signature needs the secret itself. So it is stored encrypted: AES-256-GCM under a key derived (HKDF-SHA256)
  from the same `ASYNCGATE_KEY_SALT` secret, with the key's id as associated data (a sealed secret copied
  onto another record does not open). Someone with the stored records but without the salt learns nothing;
  every gateway sharing a store needs the same salt (without one, each process draws its own and can open only
  what it sealed).

Sessions are kept as Records (storage/): in memory by default, or in Redis shared by several gateways.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .storage import DuplicateIndex, MemoryRecords, Records

SALT_ENV = "ASYNCGATE_KEY_SALT"


class KeyError_(ValueError):
    """A session body that is not valid (the message says which field and why)."""


class UsernameTaken(KeyError_):
    """Another key already has this Basic username."""


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
    basic_auth_data: dict[str, str] = field(default_factory=dict)  # {username, password_hash}
    hmac_enabled: bool = False
    hmac_secret: str = ""  # sealed (SecretBox), never shown
    created: int = 0

    def expired(self, now: float | None = None) -> bool:
        return self.expires > 0 and (now if now is not None else time.time()) >= self.expires

    def allows(self, api_id: str) -> bool:
        return api_id in self.access_rights

    def public(self) -> dict[str, Any]:
        """The session as the management API shows it: never the key nor its hash."""
        values = dataclasses.asdict(self)
        del values["key_hash"], values["hmac_secret"]
        values["basic_auth_data"] = {"username": self.basic_auth_data["username"]} if self.basic_auth_data else {}
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
    "basic_auth_data": ((dict,), {}),
    "hmac_enabled": ((bool,), False),
}
_IGNORED = {"id", "key", "key_hash", "created", "hmac_string", "hmac_secret"}
# Fields that are counts or durations.
_NOT_NEGATIVE = {"rate", "per", "expires", "message_rate", "message_per", "key_expires_in"}
MAX_USERNAME, MAX_PASSWORD = 256, 1024


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
    if values.get("basic_auth_data"):
        values["basic_auth_data"] = _basic_auth_data(values["basic_auth_data"])
    return values


def _basic_auth_data(data: dict[str, Any]) -> dict[str, str]:
    unknown = sorted(set(data) - {"username", "password"})
    if unknown:
        raise KeyError_(f"basic_auth_data: unknown field(s) {', '.join(unknown)}; known: username, password")
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not username or len(username) > MAX_USERNAME \
            or ":" in username or not username.isprintable():
        raise KeyError_(f"basic_auth_data.username: expected a non-empty string of at most {MAX_USERNAME} "
                        "printable characters without ':'")
    if password is not None and (not isinstance(password, str) or not password or len(password) > MAX_PASSWORD):
        raise KeyError_(f"basic_auth_data.password: expected a non-empty string of at most {MAX_PASSWORD} "
                        "characters")
    return {"username": username, **({"password": password} if password is not None else {})}


class KeyHasher:
    """HMAC-SHA256 of a key under a secret salt: the stored hash and the lookup index."""

    def __init__(self, salt: bytes | str | None = None) -> None:
        if salt is None:
            salt = os.environ.get(SALT_ENV) or secrets.token_bytes(32)
        self._salt = salt.encode() if isinstance(salt, str) else salt

    def __call__(self, key: str) -> str:
        # hmac.digest: the one-shot C path (hmac.new builds a Python HMAC object on every lookup).
        return hmac.digest(self._salt, key.encode("utf-8", "surrogatepass"), "sha256").hex()

    def derive(self, purpose: bytes) -> bytes:
        """A 256-bit key for PURPOSE, derived from the salt (HKDF-SHA256)."""
        return HKDF(hashes.SHA256(), 32, salt=None, info=purpose).derive(self._salt)

    def __repr__(self) -> str:  # never show the salt
        return "KeyHasher(<secret salt>)"


class SecretBox:
    """AES-256-GCM: secrets that must be read back (HMAC signing secrets), sealed to the record they belong to."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str, record_id: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), record_id.encode())).decode()

    def open(self, sealed: str, record_id: str) -> str | None:
        """The secret, or None when it was sealed under another key or for another record."""
        try:
            raw = base64.b64decode(sealed, validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], record_id.encode()).decode()
        except (ValueError, InvalidTag):
            return None

    def __repr__(self) -> str:
        return "SecretBox(<secret key>)"


class KeyStore:
    """Sessions on a Records namespace: by id, with the key's hash as a unique index (the lookup), and the
    Basic username as another."""

    VERIFIED_MAX = 10_000  # remembered username/password pairs (digests) in this process
    SESSIONS_CACHED = 10_000  # sessions kept with the stored record they were made of

    def __init__(self, records: Records | None = None, hasher: KeyHasher | None = None) -> None:
        self.records: Records = records if records is not None else MemoryRecords()
        self.hash = hasher or KeyHasher()
        self.box = SecretBox(self.hash.derive(b"asyncgate hmac secrets"))
        self._passwords = PasswordHasher()
        self._verified: OrderedDict[str, None] = OrderedDict()
        # The Session last made of each stored record peeked at: valid while the storage returns that very
        # record object (the embedded storage replaces it on every change; Redis decodes a new one each time).
        self._sessions: dict[str, tuple[Mapping[str, Any], Session]] = {}

    async def create(self, values: Mapping[str, Any]) -> tuple[str, Session]:
        """Store a new session; return (the key, shown once, and the session). Raises UsernameTaken."""
        while True:
            key = secrets.token_urlsafe(32)
            session_id = secrets.token_hex(8)
            session = Session(id=session_id, key_hash=self.hash(key), created=int(time.time()),
                              **await self._secured(values, session_id, None))
            try:
                if await self.records.put(session.id, _record(session), _index(session), create=True):
                    return key, session
            except DuplicateIndex as exc:
                if exc.index == "basic":
                    raise UsernameTaken(_taken(session)) from None
                continue  # a 256-bit key drawn twice: draw again

    async def get(self, key_id: str) -> Session | None:
        return _session(await self.records.get(key_id))

    async def list(self) -> list[Session]:
        sessions = [_session(r) for r in await self.records.list()]
        return sorted((s for s in sessions if s is not None), key=lambda s: (s.created, s.id))

    async def update(self, key_id: str, values: Mapping[str, Any]) -> Session | None:
        session = await self.get(key_id)
        if session is None:
            return None
        updated = dataclasses.replace(session, **await self._secured(values, key_id, session))
        try:
            await self.records.put(key_id, _record(updated), _index(updated))
        except DuplicateIndex:
            raise UsernameTaken(_taken(updated)) from None
        return updated

    async def delete(self, key_id: str) -> bool:
        return await self.records.delete(key_id)

    async def lookup(self, key: str) -> Session | None:
        """The session of a presented key, or None. Read-only: it may be shared with other lookups, and its
        dicts and lists may be the stored record's."""
        record = await self.records.peek("hash", self.hash(key))
        if record is None:
            return None
        cached = self._sessions.get(record["id"])
        if cached is not None and cached[0] is record:
            return cached[1]
        session = _session(record)
        assert session is not None
        if len(self._sessions) >= self.SESSIONS_CACHED:
            self._sessions.clear()  # rarely: more keys in use than that (or a storage that never repeats)
        self._sessions[session.id] = (record, session)
        return session

    async def lookup_basic(self, username: str, password: str) -> Session | None:
        """The session whose Basic credentials these are, or None (unknown username or wrong password)."""
        session = _session(await self.records.find("basic", username))
        if session is None or not session.basic_auth_data:
            return None
        stored = session.basic_auth_data["password_hash"]
        digest = self.hash(f"{session.id}\0{stored}\0{password}")
        if digest in self._verified:
            self._verified.move_to_end(digest)
            return session
        try:  # Argon2 takes tens of milliseconds on purpose: not on the event loop
            await asyncio.to_thread(self._passwords.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        self._verified[digest] = None
        if len(self._verified) > self.VERIFIED_MAX:
            self._verified.popitem(last=False)
        return session

    def hmac_secret(self, session: Session) -> str | None:
        """The session's HMAC signing secret, or None (not enabled, or sealed under another salt)."""
        if not session.hmac_enabled or not session.hmac_secret:
            return None
        return self.box.open(session.hmac_secret, session.id)

    async def _secured(self, values: Mapping[str, Any], session_id: str, previous: Session | None
                       ) -> dict[str, Any]:
        """VALUES as stored: a Basic password hashed, an HMAC secret drawn (and sealed) when switched on."""
        secured = dict(values)
        basic = secured.get("basic_auth_data") or {}
        if basic:
            if "password" in basic:
                password_hash = await asyncio.to_thread(self._passwords.hash, basic["password"])
            elif previous is not None and previous.basic_auth_data:
                password_hash = previous.basic_auth_data["password_hash"]
            else:
                raise KeyError_("basic_auth_data.password: required when the key has no password yet")
            secured["basic_auth_data"] = {"username": basic["username"], "password_hash": password_hash}
        secured["hmac_secret"] = ""
        if secured.get("hmac_enabled"):
            kept = previous.hmac_secret if previous is not None and previous.hmac_enabled else ""
            secured["hmac_secret"] = kept or self.box.seal(secrets.token_urlsafe(32), session_id)
        return secured


def _record(session: Session) -> dict[str, Any]:
    return dataclasses.asdict(session)


def _index(session: Session) -> dict[str, str]:
    index = {"hash": session.key_hash}
    if session.basic_auth_data:
        index["basic"] = session.basic_auth_data["username"]
    return index


def _taken(session: Session) -> str:
    return f'basic_auth_data.username: another key has the username "{session.basic_auth_data["username"]}"'


_SESSION_FIELDS = {f.name for f in dataclasses.fields(Session)}


def _session(record: Mapping[str, Any] | None) -> Session | None:
    if record is None:
        return None
    # Fields a newer gateway wrote and this one does not know are ignored rather than fatal.
    return Session(**{k: v for k, v in record.items() if k in _SESSION_FIELDS})
