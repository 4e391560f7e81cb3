"""Authenticating one request: before any stream is touched, a request either gets an Identity or a Denial
(authenticate: are the credentials valid?), then is authorized or denied (authorize: may it use this API?).

Answers, as Tyk: no credentials → 401; credentials that are not valid (an unknown key, a wrong password or
signature, a malformed or expired token) → 401; credentials too large to read → 400; an inactive key → 403; a
key without access to this API (not in its `access_rights`) → 403. A JWT identity is virtual: it has access
only through its policies, so one that names no policy is refused with 403. Neither the credentials nor a
hash of them appears in a response or in the logs.

A session with `policies` is authorized by the rules its policies give it (policies.py): the access rights,
limits and message rate that `authorize` returns in the Identity are the effective ones; an unknown or
inactive policy → 403.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.runtime.http import Scope

from ..keys import KeyStore
from ..policies import PolicyStore
from .outcome import Denial, Identity
from .policy import AuthPolicy

__all__ = ["Denial", "Identity", "authenticate", "authorize"]


# How much a denial says about the presented credentials: the most specific one is reported.
def _rank(d: Denial) -> int:
    return 3 if d.status == 403 else 2 if not d.missing else 1


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
    """Every scheme of one alternative must pass; the first one's identity is the request's."""
    identity: Identity | None = None
    for scheme in schemes:
        outcome = await scheme.authenticate(scope, keys, api_id)
        if isinstance(outcome, Denial):
            return outcome
        identity = identity or outcome
    return identity or Identity(None)


async def authorize(identity: Identity, api_id: str, policies: PolicyStore) -> Identity | Denial:
    """May this authenticated identity use API_ID? (after authenticate: the credentials are valid)
    Returns the identity with its effective session (its policies applied), or why not."""
    session = identity.session
    if session is None:
        return identity
    if identity.virtual and not session.policies:
        # A JWT identity has access only through its policies.
        return Denial(403, "the JWT presented names no policy (and the API has no defaultPolicies)")
    if session.policies:
        effective = await policies.effective(session)
        if isinstance(effective, str):
            return Denial(403, f"{effective} (a policy of the credentials presented)")
        session = effective
        identity = dataclasses.replace(identity, session=session)
    if session.is_inactive:
        return Denial(403, "the API key presented is inactive")
    if not session.allows(api_id):
        if identity.virtual:
            return Denial(403, f"the JWT presented has no access to API {api_id} through its policies")
        return Denial(403, f"the API key presented has no access to API {api_id}")
    return identity
