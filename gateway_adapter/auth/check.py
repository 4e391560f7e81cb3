"""Authenticating one request: before any stream is touched, a request either gets an Identity or a Denial
(authenticate: are the credentials valid?), then is authorized or denied (authorize: may it use this API?).

Answers, as Tyk: no credentials → 401; a key that is not known → 401; an expired key → 401; an inactive
key → 403; a key without access to this API (not in its `access_rights`) → 403. Neither the key nor its
hash appears in a response or in the logs.

A session with `policies` is authorized by the rules its policies give it (policies.py): the access rights,
limits and message rate that `authorize` returns in the Identity are the effective ones; an unknown or
inactive policy → 403.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.runtime.http import Scope

from ..keys import KeyStore, Session
from ..policies import PolicyStore
from .policy import AuthPolicy


@dataclass(frozen=True)
class Identity:
    session: Session | None

    def context(self) -> dict[str, Any]:
        s = self.session
        return {} if s is None else {"key_id": s.id, "alias": s.alias, "meta_data": s.meta_data, "tags": s.tags}


@dataclass(frozen=True)
class Denial:
    status: int
    detail: str
    scheme: str = ""

    @property
    def title(self) -> str:
        return "Unauthorized" if self.status == 401 else "Forbidden"

    def headers(self, api_id: str) -> list[tuple[bytes, bytes]]:
        if self.status != 401:
            return []
        return [(b"www-authenticate", f'Bearer realm="{api_id}"'.encode())]


# How much a denial says about the presented credentials: the most specific one is reported.
def _rank(d: Denial) -> int:
    return 3 if d.status == 403 else 2 if "presented" in d.detail else 1


async def authenticate(policy: AuthPolicy, scope: Scope, keys: KeyStore, api_id: str) -> Identity | Denial:
    if not policy.enabled:
        return Identity(None)
    if policy.closed:
        missing = ", ".join(policy.unimplemented)
        return Denial(401, f"API {api_id} requires authentication that this gateway does not implement yet"
                           + (f" ({missing})" if missing else "") + "; it refuses every request rather than "
                           "serve it unprotected")
    denials: list[Denial] = []
    for alternative in policy.alternatives:
        outcome = await _satisfy(alternative, scope, keys, api_id)
        if isinstance(outcome, Identity):
            return outcome
        denials.append(outcome)
    return max(denials, key=_rank)


async def _satisfy(schemes: tuple[Any, ...], scope: Scope, keys: KeyStore, api_id: str) -> Identity | Denial:
    identity: Identity | None = None
    for scheme in schemes:
        key = scheme.credential(scope)
        if key is None:
            return Denial(401, f"API {api_id} needs an API key (presented in {scheme.describe()})", scheme.name)
        session = await keys.lookup(key)
        if session is None:
            return Denial(401, "the API key presented is not valid", scheme.name)
        if session.expired():
            return Denial(401, "the API key presented has expired", scheme.name)
        identity = identity or Identity(session)
    return identity or Identity(None)


async def authorize(identity: Identity, api_id: str, policies: PolicyStore) -> Identity | Denial:
    """May this authenticated identity use API_ID? (after authenticate: the credentials are valid)
    Returns the identity with its effective session (its policies applied), or why not."""
    session = identity.session
    if session is None:
        return identity
    if session.policies:
        effective = await policies.effective(session)
        if isinstance(effective, str):
            return Denial(403, f"{effective} (a policy of the credentials presented)")
        session = effective
        identity = dataclasses.replace(identity, session=session)
    if session.is_inactive:
        return Denial(403, "the API key presented is inactive")
    if not session.allows(api_id):
        return Denial(403, f"the API key presented has no access to API {api_id}")
    return identity
