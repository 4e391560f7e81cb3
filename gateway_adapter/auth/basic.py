"""HTTP Basic authentication (OpenAPI `{type: http, scheme: basic}`) against keys with `basic_auth_data`.

The request presents `Authorization: Basic base64(username:password)` (or the same value, with or without
`Basic `, in Tyk's other places, see places.py). The username finds the key (keys.py: a unique index), the
password is checked against its Argon2 hash. Refusals say which part is wrong only as far as it is safe: an
unknown username and a wrong password get the same answer, 401 with `WWW-Authenticate: Basic`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from engine.runtime.http import Scope

from ..keys import KeyStore
from .outcome import MAX_CREDENTIAL, Denial, Identity, too_large
from .places import Place, credential, describe


def parse_basic(value: str) -> tuple[str, str] | None:
    """(username, password) from the base64 part of a Basic credential, or None when it is malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        return None
    return username, password


@dataclass(frozen=True)
class BasicScheme:
    name: str
    places: tuple[Place, ...]

    async def authenticate(self, scope: Scope, keys: KeyStore, api_id: str) -> Identity | Denial:
        value = credential(scope, self.places, prefix="basic")
        if value is None:
            return Denial(401, f"API {api_id} needs a username and password (HTTP Basic, presented in "
                               f"{describe(self.places)})", self.name, "Basic", missing=True)
        if len(value) > MAX_CREDENTIAL:
            return too_large("Basic credential", self.name)
        pair = parse_basic(value)
        if pair is None:
            return Denial(401, "the Basic credentials presented are malformed (expected base64 of "
                               "username:password)", self.name, "Basic")
        session = await keys.lookup_basic(*pair)
        if session is None:
            return Denial(401, "the username or password presented is not valid", self.name, "Basic")
        if session.expired():
            return Denial(401, "the key of the username presented has expired", self.name, "Basic")
        return Identity(session, "basic")
