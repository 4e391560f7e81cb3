"""What an API definition asks of a request: its AuthPolicy, read from the OpenAPI document.

Authentication is switched on by `x-tyk-api-gateway.server.authentication` (`enabled` not false). The
OpenAPI top-level `security` lists alternatives (any one suffices), each naming schemes of
`components.securitySchemes` that must all be satisfied. As in Tyk OAS, a scheme takes part only when
`server.authentication.securitySchemes.<name>.enabled` is true (when that map is absent, every scheme that
`security` names takes part).

Implemented: `apiKey` (api_key.py), `http`/`bearer` with `bearerFormat: JWT` (jwt_auth.py), `http`/`basic`
(basic.py), and Tyk's HMAC request signatures (`server.authentication.hmac.enabled`, signature.py), which
are not an OpenAPI scheme: they are one more alternative. Any other scheme type that takes part cannot be
satisfied: an alternative that needs it refuses every request (closed) and lint warns, naming it. So does a
scheme whose settings are wrong (lint: an error at the setting). With authentication on and no alternative
that can be satisfied, every request is refused with 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from engine.config.parse import Locations
from engine.errors import Diagnostic

from .api_key import ApiKeyScheme
from .basic import BasicScheme
from .jwt_auth import read_jwt
from .origin import allowed_origins
from .places import AUTHORIZATION, PLACES, tyk_places
from .signature import ALGORITHMS, DEFAULT_ALGORITHMS, DEFAULT_SKEW_MS, HmacScheme

GATEWAY_KEY = "x-tyk-api-gateway"
AUTH_PATH = (GATEWAY_KEY, "server", "authentication")
IMPLEMENTED = ("apiKey", "http/bearer (bearerFormat JWT)", "http/basic")
NOT_IMPLEMENTED = ("oidc", "custom")  # Tyk authentication modes that are not read (lint warns when enabled)


@dataclass(frozen=True)
class AuthPolicy:
    enabled: bool = False
    alternatives: tuple[tuple[Any, ...], ...] = ()  # those that can be satisfied: schemes with authenticate()
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

    alternatives: list[tuple[Any, ...]] = []
    unimplemented: list[str] = []
    built: dict[str, Any] = {}
    for mode in NOT_IMPLEMENTED:
        if _dict(auth.get(mode)).get("enabled") is True:
            say(AUTH_PATH + (mode,), f"{'.'.join(AUTH_PATH + (mode,))}: not implemented by AsyncGate; ignored")
    for index, requirement in enumerate(requirements):
        schemes: list[Any] = []
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
            if name not in built:  # once per scheme, however many requirements name it
                tyk = _dict(tyk_schemes.get(name)) if isinstance(tyk_schemes, dict) else {}
                built[name] = _scheme(name, definition, tyk, say)
                if built[name] is not None and not built[name].places:
                    say(AUTH_PATH + ("securitySchemes", name), f"{'.'.join(AUTH_PATH)}.securitySchemes.{name}: no "
                        "header, query or cookie is enabled to carry the credential: every request is refused",
                        "error")
                    built[name] = None
            scheme = built[name]
            if scheme is None:
                if _kind(definition) not in IMPLEMENTED and name not in unimplemented:
                    unimplemented.append(name)
                satisfiable = False
                continue
            schemes.append(scheme)
        if satisfiable and schemes:
            alternatives.append(tuple(schemes))
    hmac_settings = _dict(auth.get("hmac"))
    if hmac_settings.get("enabled") is True:
        hmac_scheme = _hmac(hmac_settings, say)
        if hmac_scheme is not None:
            alternatives.append((hmac_scheme,))
    policy = AuthPolicy(True, tuple(alternatives), tuple(unimplemented), origins)
    if policy.closed:
        why = ("no security requirement can be satisfied (" + (
            f"not implemented yet: {', '.join(unimplemented)}" if unimplemented else
            "none is listed in `security` with a scheme switched on") + ")")
        say(AUTH_PATH, f"{'.'.join(AUTH_PATH)}: {why}, so the API is served closed: every request is refused "
                       "with 401")
    return policy, diagnostics


Say = Callable[..., None]  # (path, message, severity="warning"): a located diagnostic


def _kind(definition: dict[str, Any]) -> str:
    kind = definition.get("type")
    if kind != "http":
        return str(kind)
    scheme = str(definition.get("scheme") or "").lower()
    if scheme == "bearer":
        return "http/bearer" + (" (bearerFormat JWT)" if definition.get("bearerFormat") == "JWT" else "")
    return f"http/{scheme}"


def _scheme(name: str, definition: dict[str, Any], tyk: dict[str, Any], say: Say) -> Any:
    """The scheme NAME, ready to authenticate requests, or None (after saying why) when it cannot be."""
    where = ("components", "securitySchemes", name)
    kind = _kind(definition)
    if kind == "apiKey":
        where_in, param = definition.get("in"), definition.get("name")
        if where_in not in PLACES or not isinstance(param, str) or not param:
            say(where, f"components.securitySchemes.{name}: an apiKey scheme needs `in` (header, query or cookie) "
                       "and `name`", "error")
            return None
        return ApiKeyScheme(name, tyk_places((where_in, param), tyk, openapi=True))
    if kind == "http/basic":
        return BasicScheme(name, tyk_places(AUTHORIZATION, tyk, openapi=False))
    if kind == "http/bearer (bearerFormat JWT)":
        base = AUTH_PATH + ("securitySchemes", name)

        def say_at(setting: str, message: str, severity: str) -> None:
            path = base + ((setting,) if setting else ())
            say(path, f"{'.'.join(base)}" + (f".{message}" if setting else f": {message}"), severity)

        return read_jwt(name, tyk, say_at)
    hint = " (a bearer token that is not a JWT: use an apiKey scheme in the Authorization header)" \
        if kind == "http/bearer" else ""
    say(where, f'components.securitySchemes.{name}: scheme type "{kind}" is not implemented by AsyncGate{hint}: '
               "requests that need it are refused with 401")
    return None


def _hmac(settings: dict[str, Any], say: Say) -> HmacScheme | None:
    base = AUTH_PATH + ("hmac",)
    dotted = ".".join(base)
    algorithms = settings.get("allowedAlgorithms") or list(DEFAULT_ALGORITHMS)
    if not isinstance(algorithms, list) or not algorithms \
            or not all(isinstance(a, str) and a.lower() in ALGORITHMS for a in algorithms):
        say(base + ("allowedAlgorithms",), f"{dotted}.allowedAlgorithms: expected a list of "
                                           f"{', '.join(ALGORITHMS)}: every signed request is refused", "error")
        return None
    skew = settings.get("allowedClockSkew") or 0
    if isinstance(skew, bool) or not isinstance(skew, (int, float)) or skew < 0:
        say(base + ("allowedClockSkew",), f"{dotted}.allowedClockSkew: expected milliseconds (0 or more): every "
                                          "signed request is refused", "error")
        return None
    if not skew:
        say(base, f"{dotted}: no allowedClockSkew (Tyk would not check the Date): AsyncGate refuses requests "
                  f"whose Date is more than {DEFAULT_SKEW_MS / 1000:g}s off")
        skew = DEFAULT_SKEW_MS
    for place in ("query", "cookie"):
        if _dict(settings.get(place)).get("enabled") is True:
            say(base + (place,), f"{dotted}.{place}: a Signature is read from a header only; ignored")
    places = tuple(p for p in tyk_places(AUTHORIZATION, settings, openapi=False) if p[0] == "header")
    if not places:
        say(base + ("header",), f"{dotted}.header: no header to read the Signature from: every signed request "
                                "is refused", "error")
        return None
    return HmacScheme(places, tuple(a.lower() for a in algorithms), float(skew))
