"""Where a request carries its credential: a header, the query string or a cookie.

Every scheme has places, tried in order. OpenAPI gives an `apiKey` scheme its first place (`in`/`name`); the
`http` schemes (JWT, Basic) start with the `Authorization` header. Tyk OAS adds or changes places per scheme
under `x-tyk-api-gateway.server.authentication.securitySchemes.<name>`: `header`, `query`, `cookie`, each
`{enabled, name}` (so a browser WebSocket, which cannot set headers, can send its credential in the query
string); `header: {enabled: false}` drops the default header.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from engine.runtime.http import Scope

PLACES = ("header", "query", "cookie")
AUTHORIZATION = ("header", "Authorization")

Place = tuple[str, str]  # (header|query|cookie, parameter name)


def tyk_places(first: Place, tyk: dict[str, Any], *, openapi: bool) -> tuple[Place, ...]:
    """FIRST is either the OpenAPI place of an apiKey scheme (OPENAPI: always tried, first) or the default place
    of an http scheme (Tyk's setting for that kind of place replaces it); Tyk's enabled places follow."""
    places = [first]
    for place in PLACES:
        setting = tyk.get(place)
        if not isinstance(setting, dict):
            continue
        if not openapi and place == first[0]:
            places.remove(first)
        if setting.get("enabled") is not True:
            continue
        name = setting.get("name")
        param = name if isinstance(name, str) and name else first[1]
        if (place, param) not in places:
            places.append((place, param))
    return tuple(places)


def describe(places: tuple[Place, ...]) -> str:
    return " or ".join(f"the {place} {param}" for place, param in places) or "no place (none is enabled)"


def credential(scope: Scope, places: tuple[Place, ...], prefix: str = "bearer") -> str | None:
    """The first credential found in PLACES, or None. In the Authorization header a leading `<PREFIX> ` is
    removed (`Bearer <token>`, `Basic <credentials>`)."""
    for place, param in places:
        value = find(scope, place, param)
        if value and place == "header" and param.lower() == "authorization":
            scheme, _, rest = value.partition(" ")
            if scheme.lower() == prefix:
                value = rest.strip()
        if value:
            return value
    return None


def find(scope: Scope, place: str, param: str) -> str | None:
    """The raw value at PLACE/PARAM (stripped), or None."""
    if place == "header":
        wanted = param.lower().encode("latin-1", "replace")
        for name, raw in scope.get("headers") or []:
            if name.lower() == wanted:
                return raw.decode("latin-1").strip() or None
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
