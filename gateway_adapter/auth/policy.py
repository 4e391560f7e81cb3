"""What an API definition asks of a request: its AuthPolicy, read from the OpenAPI document.

Authentication is switched on by `x-tyk-api-gateway.server.authentication` (`enabled` not false). The
OpenAPI top-level `security` lists alternatives (any one suffices), each naming schemes of
`components.securitySchemes` that must all be satisfied. As in Tyk OAS, a scheme takes part only when
`server.authentication.securitySchemes.<name>.enabled` is true (when that map is absent, every scheme that
`security` names takes part).

Implemented: `apiKey`. Any other scheme type that takes part cannot be satisfied yet: an alternative that
needs it refuses every request (closed) and lint warns, naming it. With authentication on and no
alternative that can be satisfied, every request is refused with 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config.parse import Locations
from engine.errors import Diagnostic

from .api_key import PLACES, ApiKeyScheme, places_of
from .origin import allowed_origins

GATEWAY_KEY = "x-tyk-api-gateway"
AUTH_PATH = (GATEWAY_KEY, "server", "authentication")
IMPLEMENTED = ("apiKey",)


@dataclass(frozen=True)
class AuthPolicy:
    enabled: bool = False
    alternatives: tuple[tuple[ApiKeyScheme, ...], ...] = ()  # those that can be satisfied
    unimplemented: tuple[str, ...] = ()  # schemes that take part but are not implemented yet
    origins: tuple[str, ...] | None = None  # WebSocket origins allowed (None: not checked)

    @property
    def closed(self) -> bool:
        """Authentication is on and no alternative can be satisfied: every request is refused."""
        return self.enabled and not self.alternatives


def authentication_enabled(document: dict[str, Any]) -> bool:
    server = (document.get(GATEWAY_KEY) or {}).get("server") or {}
    auth = server.get("authentication") if isinstance(server, dict) else None
    return isinstance(auth, dict) and auth.get("enabled") is not False


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_policy(document: dict[str, Any], locations: Locations | None = None
                ) -> tuple[AuthPolicy, list[Diagnostic]]:
    """The API's policy and what to say about it (errors and warnings, located when LOCATIONS is given)."""
    diagnostics: list[Diagnostic] = []

    def say(path: tuple[Any, ...], message: str, severity: str = "warning") -> None:
        if locations is not None:
            diagnostics.append(locations.error(path, message, at_key=True, severity=severity))

    origins = allowed_origins(document)
    cors = _dict(_dict(_dict(_dict(document.get(GATEWAY_KEY)).get("middleware")).get("global")).get("cors"))
    if cors.get("enabled") is True:
        base = (GATEWAY_KEY, "middleware", "global", "cors")
        for name, value in cors.items():
            if name not in ("enabled", "allowedOrigins") and value not in (None, False, "", [], {}):
                say(base + (name,), f"{'.'.join(base + (name,))}: not implemented by AsyncGate; ignored (only "
                                    "allowedOrigins is used, to check WebSocket Origins; set `cors` on the "
                                    "http_server components for CORS headers)")
        if origins is None:
            say(base, f"{'.'.join(base)}: no allowedOrigins list: WebSocket Origins are not checked")
    if not authentication_enabled(document):
        return AuthPolicy(origins=origins), diagnostics

    auth = _dict(_dict(_dict(document.get(GATEWAY_KEY)).get("server")).get("authentication"))
    tyk_schemes = auth.get("securitySchemes")
    definitions = _dict(_dict(document.get("components")).get("securitySchemes"))
    security = document.get("security")
    requirements = [r for r in security if isinstance(r, dict)] if isinstance(security, list) else []

    def takes_part(name: str) -> bool:
        if not isinstance(tyk_schemes, dict):
            return True
        return _dict(tyk_schemes.get(name)).get("enabled") is True

    alternatives: list[tuple[ApiKeyScheme, ...]] = []
    unimplemented: list[str] = []
    for index, requirement in enumerate(requirements):
        schemes: list[ApiKeyScheme] = []
        satisfiable = True
        for name in requirement:
            if not takes_part(name):
                continue
            definition = definitions.get(name)
            if not isinstance(definition, dict):
                say(("security", index, name), f'security: scheme "{name}" is not defined in '
                                               "components.securitySchemes; requests that need it are refused "
                                               "with 401")
                satisfiable = False
                continue
            kind = definition.get("type")
            where = ("components", "securitySchemes", name)
            if kind not in IMPLEMENTED:
                detail = f"{kind}" + (f"/{definition['scheme']}" if definition.get("scheme") else "")
                if name not in unimplemented:
                    unimplemented.append(name)
                    say(where, f'components.securitySchemes.{name}: scheme type "{detail}" is not implemented '
                               "by AsyncGate yet: requests that need it are refused with 401")
                satisfiable = False
                continue
            tyk = _dict(tyk_schemes.get(name)) if isinstance(tyk_schemes, dict) else {}
            if definition.get("in") not in PLACES or not isinstance(definition.get("name"), str) \
                    or not definition.get("name"):
                say(where, f"components.securitySchemes.{name}: an apiKey scheme needs `in` (header, query or "
                           "cookie) and `name`", "error")
                satisfiable = False
                continue
            schemes.append(ApiKeyScheme(name, tuple(places_of(definition, tyk))))
        if satisfiable and schemes:
            alternatives.append(tuple(schemes))
    policy = AuthPolicy(True, tuple(alternatives), tuple(unimplemented), origins)
    if policy.closed:
        why = ("no security requirement can be satisfied (" + (
            f"not implemented yet: {', '.join(unimplemented)}" if unimplemented else
            "none is listed in `security` with a scheme switched on") + ")")
        say(AUTH_PATH, f"{'.'.join(AUTH_PATH)}: {why}, so the API is served closed: every request is refused "
                       "with 401")
    return policy, diagnostics
