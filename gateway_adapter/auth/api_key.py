"""The `apiKey` security scheme: a key created by the management API, presented in a header, the query
string or a cookie (OpenAPI `{type: apiKey, in: header|query|cookie, name: ...}`, plus Tyk's places, see
places.py). In the `Authorization` header the value is the raw key or `Bearer <key>`.

A key with `hmac_enabled` is refused here: it authenticates with request signatures only (signature.py),
whose `keyId` shows the key to anyone who sees a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.runtime.http import Scope

from ..keys import KeyStore
from .outcome import MAX_CREDENTIAL, Denial, Identity, too_large
from .places import Place, credential, describe


@dataclass(frozen=True)
class ApiKeyScheme:
    name: str  # the scheme's name in components.securitySchemes
    places: tuple[Place, ...]  # where the key may be, in the order they are tried

    def credential(self, scope: Scope) -> str | None:
        """The key the request presents for this scheme, or None when it presents none."""
        return credential(scope, self.places)

    async def authenticate(self, scope: Scope, keys: KeyStore, api_id: str) -> Identity | Denial:
        key = self.credential(scope)
        if key is None:
            return Denial(401, f"API {api_id} needs an API key (presented in {describe(self.places)})", self.name,
                          missing=True)
        if len(key) > MAX_CREDENTIAL:
            return too_large("API key", self.name)
        session = await keys.lookup(key)
        if session is None:
            return Denial(401, "the API key presented is not valid", self.name)
        if session.expired():
            return Denial(401, "the API key presented has expired", self.name)
        if session.hmac_enabled:  # its key travels in clear as the keyId of its signatures
            return Denial(401, "the API key presented signs its requests (hmac_enabled): it is not accepted on "
                               "its own", self.name)
        return Identity(session, "key")
