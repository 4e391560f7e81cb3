"""The `apiKey` security scheme: where a request carries its key.

OpenAPI: `{type: apiKey, in: header|query|cookie, name: ...}`. Tyk OAS may add places per scheme under
`x-tyk-api-gateway.server.authentication.securitySchemes.<name>`: `header`, `query`, `cookie`, each
`{enabled: true, name: ...}` (so a browser WebSocket, which cannot set headers, can send the key in the query
string). For the `Authorization` header the value is the raw key or `Bearer <key>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from engine.runtime.http import Scope

PLACES = ("header", "query", "cookie")


@dataclass(frozen=True)
class ApiKeyScheme:
    name: str  # the scheme's name in components.securitySchemes
    places: tuple[tuple[str, str], ...]  # (in, parameter name), in the order they are tried

    def credential(self, scope: Scope) -> str | None:
        """The key the request presents for this scheme, or None when it presents none."""
        for place, param in self.places:
            value = _find(scope, place, param)
            if value:
                return value
        return None

    def describe(self) -> str:
        return " or ".join(f"the {place} {param}" for place, param in self.places)


def _find(scope: Scope, place: str, param: str) -> str | None:
    if place == "header":
        wanted = param.lower().encode("latin-1", "replace")
        for name, raw in scope.get("headers") or []:
            if name.lower() == wanted:
                value = raw.decode("latin-1").strip()
                if wanted == b"authorization":
                    scheme, _, rest = value.partition(" ")
                    if scheme.lower() == "bearer":
                        value = rest.strip()
                return value or None
        return None
    if place == "query":
        query = (scope.get("query_string") or b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == param:
                return value or None
        return None
    if place == "cookie":
        for name, raw in scope.get("headers") or []:
            if name.lower() == b"cookie":
                cookies: SimpleCookie = SimpleCookie()
                try:
                    cookies.load(raw.decode("latin-1"))
                except CookieError:
                    continue
                if param in cookies and cookies[param].value:
                    return cookies[param].value
        return None
    return None


def places_of(definition: dict[str, Any], tyk: dict[str, Any]) -> list[tuple[str, str]]:
    """Where the key may be: the OpenAPI `in`/`name`, then Tyk's enabled extra places."""
    places: list[tuple[str, str]] = []
    where, name = definition.get("in"), definition.get("name")
    if where in PLACES and isinstance(name, str) and name:
        places.append((where, name))
    for place in PLACES:
        extra = tyk.get(place)
        if isinstance(extra, dict) and extra.get("enabled") is True:
            param = extra.get("name") or name
            if isinstance(param, str) and param and (place, param) not in places:
                places.append((place, param))
    return places
