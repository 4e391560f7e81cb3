"""Policies (Tyk security policies): access rights and limits shared by many keys.

A key (or a JWT identity) whose session lists `policies` gets its rules from them, as Tyk applies
non-partitioned policies (its internal/policy/apply.go):

- access rights: the union of the policies' `access_rights` (when no policy lists any, the key's own);
- rate limit: the most generous `rate`/`per` (most requests per second) among the policies that set one
  (rate and per > 0); none sets one: no key rate limit. The key's own `rate`/`per` are replaced, not merged;
- quota: the largest `quota_max` (-1, unlimited, beats any number; 0 = not set), with the largest
  `quota_renewal_rate`; none sets one: no quota. The quota is still counted per key;
- message rate (ours): the most generous `message_rate`/`message_per`, as for the rate limit;
- `tags`: the union with the key's; `meta_data`: the key's, overwritten by the policies' (later ones win).

Unlike Tyk, which skips a missing policy when a key has several, an unknown policy or an inactive one
(`active: false` or `is_inactive: true`) refuses the request with 403 naming the policy: closed by default.
`key_expires_in` (seconds) sets `expires` of a key created with the policy (the longest of its policies).

Policies are kept as Records in the "policies" namespace (in memory, or Redis shared by several gateways) and
managed under `/_admin/policies` (admin.py).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .keys import Fields, KeyError_, Session, checked_fields
from .storage import MemoryRecords, Records

POLICY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")


@dataclass
class Policy:
    id: str
    name: str = ""
    rate: float = 0.0
    per: float = 0.0
    quota_max: int = 0
    quota_renewal_rate: int = 0
    access_rights: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    meta_data: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    is_inactive: bool = False
    key_expires_in: int = 0
    message_rate: int = 0
    message_per: float = 0.0

    @property
    def usable(self) -> bool:
        return self.active and not self.is_inactive


_FIELDS: Fields = {
    "name": ((str,), ""),
    "rate": ((int, float), 0.0),
    "per": ((int, float), 0.0),
    "quota_max": ((int,), 0),
    "quota_renewal_rate": ((int,), 0),
    "access_rights": ((dict,), {}),
    "tags": ((list,), []),
    "meta_data": ((dict,), {}),
    "active": ((bool,), True),
    "is_inactive": ((bool,), False),
    "key_expires_in": ((int,), 0),
    "message_rate": ((int,), 0),
    "message_per": ((int, float), 0.0),
}
# Tyk policy fields that carry no meaning here (bookkeeping), accepted and ignored so that a policy exported
# from Tyk loads.
_IGNORED = {"id", "_id", "org_id", "last_updated"}
# Tyk policy fields AsyncGate does not implement: accepted only when switched off (as Tyk writes them by default).
_UNIMPLEMENTED = ("partitions", "throttle_interval", "throttle_retry_limit", "hmac_enabled", "rsa_enabled",
                  "enable_http_signature_validation", "max_query_depth", "smoothing", "graphql")


def _off(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_off(v) for v in value.values())
    return value in (None, False, 0, -1, "", [])


def policy_fields(body: Any) -> dict[str, Any]:
    """The policy fields of a management API body, checked; raises KeyError_ with a clear message."""
    if isinstance(body, dict):
        for name in _UNIMPLEMENTED:
            if not _off(body.get(name)):
                raise KeyError_(f"{name}: not implemented by AsyncGate; leave it unset (or off)")
        body = {k: v for k, v in body.items() if k not in _UNIMPLEMENTED}
    values = checked_fields(body, _FIELDS, _IGNORED, "policy's")
    if values["quota_max"] < -1:
        raise KeyError_("quota_max: -1 (unlimited), 0 (not set) or a positive number of requests")
    policy_id = body.get("id")
    if policy_id is not None and (not isinstance(policy_id, str) or not POLICY_ID.fullmatch(policy_id)):
        raise KeyError_("id: a policy id may contain only letters, digits and ._~- (it is part of the "
                        "management API's URLs)")
    return values


def apply_policies(session: Session, policies: Iterable[Policy]) -> Session:
    """SESSION with the rules of POLICIES applied (see the module docstring); the policies must be usable."""
    policies = list(policies)
    if not policies:
        return session
    rights: dict[str, Any] = {}
    meta = dict(session.meta_data)
    tags = list(session.tags)
    for policy in policies:
        for api_id, granted in policy.access_rights.items():
            rights[api_id] = {**rights.get(api_id, {}), **granted}
        meta.update(policy.meta_data)
        tags.extend(t for t in policy.tags if t not in tags)
    rate, per = _most_generous((p.rate, p.per) for p in policies)
    message_rate, message_per = _most_generous((p.message_rate, p.message_per) for p in policies)
    quota = max((p.quota_max for p in policies), key=lambda q: float("inf") if q == -1 else q)
    renewal = max(p.quota_renewal_rate for p in policies) if quota > 0 else 0
    return dataclasses.replace(session, access_rights=rights or session.access_rights, meta_data=meta,
                               tags=tags, rate=rate, per=per, quota_max=quota, quota_renewal_rate=renewal,
                               message_rate=message_rate, message_per=message_per)


def _most_generous(limits: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The (rate, per) allowing the most per second among those set (rate and per > 0); (0, 0) if none is."""
    return max(((r, p) for r, p in limits if r > 0 and p > 0), key=lambda rp: rp[0] / rp[1], default=(0, 0.0))


class PolicyStore:
    """Policies on a Records namespace, by id."""

    def __init__(self, records: Records | None = None) -> None:
        self.records: Records = records if records is not None else MemoryRecords()

    async def create(self, values: Mapping[str, Any], policy_id: str | None = None) -> Policy | None:
        """Store a new policy (under POLICY_ID, or a generated id); None when POLICY_ID exists."""
        while True:
            policy = Policy(id=policy_id or secrets.token_hex(8), **dict(values))
            if await self.records.put(policy.id, dataclasses.asdict(policy), create=True):
                return policy
            if policy_id is not None:
                return None

    async def get(self, policy_id: str) -> Policy | None:
        return _policy(await self.records.get(policy_id))

    async def list(self) -> list[Policy]:
        policies = [_policy(r) for r in await self.records.list()]
        return sorted((p for p in policies if p is not None), key=lambda p: p.id)

    async def update(self, policy_id: str, values: Mapping[str, Any]) -> Policy | None:
        if await self.get(policy_id) is None:
            return None
        policy = Policy(id=policy_id, **dict(values))
        await self.records.put(policy_id, dataclasses.asdict(policy))
        return policy

    async def delete(self, policy_id: str) -> bool:
        return await self.records.delete(policy_id)

    async def effective(self, session: Session) -> Session | str:
        """SESSION with its policies applied, or why it cannot be (an unknown or inactive policy)."""
        found = []
        for policy_id in session.policies:
            policy = await self.get(policy_id)
            if policy is None:
                return f'policy "{policy_id}" does not exist'
            if not policy.usable:
                return f'policy "{policy_id}" is inactive'
            found.append(policy)
        return apply_policies(session, found)


_POLICY_FIELDS = {f.name for f in dataclasses.fields(Policy)}


def _policy(record: Mapping[str, Any] | None) -> Policy | None:
    if record is None:
        return None
    return Policy(**{k: v for k, v in record.items() if k in _POLICY_FIELDS})
