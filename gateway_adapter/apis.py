"""API definitions: an OpenAPI 3.x document whose `x-tyk-streaming.streams` are the API's streams and whose
`x-tyk-api-gateway` block says where and how the gateway serves them (Tyk OAS).

The streams are loaded and validated by the engine (engine.config.loader); this module validates the
gateway part. What AsyncGate implements of `x-tyk-api-gateway`:

- `info.id` (default: derived from the name), `info.name` (default: the OpenAPI `info.title`),
  `info.state.active` (default true; an inactive API is loaded but not served);
- `server.listenPath.value` (required) and `.strip` (default false);
- `middleware.global.contextVariables.enabled` (default false);
- `server.authentication` with the OpenAPI `components.securitySchemes` and `security` (see auth/policy.py:
  `apiKey` is implemented, other scheme types refuse every request with 401), and
  `middleware.global.cors.allowedOrigins` for the WebSocket Origin check (auth/origin.py);
- `upstream.rateLimit: {enabled, requests, per}` (`per` a duration such as "1s" or "60s"): at most `requests`
  requests in any `per` of the API's traffic (exact sliding window, limits.py), refused with 429;
- `middleware.global.skipRateLimit` / `skipQuota` (Tyk classic `disable_rate_limit` / `disable_quota`):
  keys' rate limits / quotas are not counted on this API (its own `upstream.rateLimit` still is).

Ours, beyond Tyk: the top-level `x-asyncgate-message-rate: {rate, per, action}`: each subscriber of the
API's http_server outputs (WebSocket, SSE, chunked stream) is sent at most `rate` messages in any `per`;
`action: drop` (default) drops the ones over it for that subscriber, `close` closes it (WebSocket 1008). A
key's (or its policies') `message_rate`/`message_per` override the rate (engine/runtime/message_rate.py).

Every other Tyk field that is switched on is reported as a located warning (`not implemented`), never
silently taken for something else; a field Tyk does not know either is a warning with a "did you mean".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Iterable

from engine import spec as s
from engine.config.loader import MAX_CONFIG_BYTES, LoadedConfig, load_config, load_text
from engine.config.parse import Locations, parse_document
from engine.config.validate import Validator, path_text
from engine.errors import ConfigError, Diagnostic
from engine.registry import suggest

from engine.runtime.message_rate import ACTIONS, MessageRate

from . import context_vars
from .auth import AuthPolicy, read_policy
from .auth.policy import authentication_enabled as _authentication_enabled

GATEWAY_KEY = "x-tyk-api-gateway"
STREAMING_KEY = "x-tyk-streaming"
MESSAGE_RATE_KEY = "x-asyncgate-message-rate"

# Paths the gateway itself answers; no API may listen on them.
RESERVED_PATHS = ("/_admin", "/healthz", "/readyz")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")

# Why a Tyk field is not honoured, for the warning (by field name; the default is plain "not implemented").
_HINTS = {
    "ipAccessControl": "IP access control is NOT enforced yet",
    "clientCertificates": "client certificates are NOT checked yet",
    "url": "AsyncGate serves stream endpoints only; it does not proxy to an upstream",
    "proxy": "AsyncGate serves stream endpoints only; it does not proxy to an upstream",
    "trafficLogs": "analytics are not recorded yet",
    "detailedActivityLogs": "analytics are not recorded yet",
    "cors": "set `cors` on the http_server components instead",
}


def _tyk(*names: str) -> list[s.Field]:
    return [s.unsupported(n, "A Tyk OAS field AsyncGate does not implement (reported by `asyncgate lint`).")
            for n in names]


GATEWAY_SPEC = s.obj(
    GATEWAY_KEY, "Tyk OAS gateway settings of an API definition.",
    s.obj("info", "The API's identity and state.",
          s.string("id", "Unique id of the API (used by the management API). Default: derived from the name.", ""),
          s.string("name", "Name of the API. Default: the OpenAPI document's `info.title`.", ""),
          s.obj("state", "Whether the API is served.",
                s.boolean("active", "Serve this API. An inactive API is loaded (and listed) but answers 404.", True),
                *_tyk("internal"),
                default={}),
          *_tyk("dbId", "orgId", "expiration", "versioning"),
          default={}),
    s.obj("server", "How clients reach the API.",
          s.obj("listenPath", "The path prefix under which the API's endpoints are served.",
                s.string("value", "The listen path, e.g. `/orders/`.", examples=("/orders/",)),
                s.boolean("strip", "Remove the listen path before matching the streams' endpoint paths "
                                    "(with false, endpoint paths must include the listen path).", False)),
          *_tyk("authentication", "clientCertificates", "gatewayTags", "customDomain", "detailedActivityLogs",
                "detailedTracing", "eventHandlers", "ipAccessControl", "batchProcessing", "protocol", "port")),
    s.obj("middleware", "Middleware settings.",
          s.obj("global", "Middleware applied to every endpoint.",
                s.obj("contextVariables", "Tyk context variables (`$tyk_context.<name>`) in stream configs.",
                      s.boolean("enabled", "Render `$tyk_context.*` variables per request: a stream that mentions "
                                           "them runs one instance per distinct rendering.", False),
                      default={}),
                *_tyk("pluginConfig", "cors", "prePlugin", "prePlugins", "postAuthenticationPlugin",
                      "postAuthenticationPlugins", "postPlugin", "postPlugins", "responsePlugin", "responsePlugins",
                      "cache", "transformRequestHeaders", "transformResponseHeaders", "trafficLogs",
                      "requestSizeLimit", "ignoreCase", "skipQuotaReset"),
                s.boolean("skipRateLimit", "Do not count keys' rate limits on this API (Tyk classic "
                                           "`disable_rate_limit`); the API's own `upstream.rateLimit` still counts.",
                          False),
                s.boolean("skipQuota", "Do not count keys' quotas on this API (Tyk classic `disable_quota`).",
                          False),
                default={}),
          *_tyk("operations"),
          default={}),
    s.obj("upstream", "Tyk's upstream settings: AsyncGate has no upstream, but enforces the API's rate limit.",
          s.obj("rateLimit", "The API's rate limit: at most `requests` requests in any `per` (an exact sliding "
                             "window over every authenticated request to the API); over it, 429 with Retry-After.",
                s.boolean("enabled", "Enforce the rate limit.", False),
                s.integer("requests", "Requests allowed in any window of `per`.", 0, examples=(100,)),
                s.duration("per", 'The window, e.g. "1s" or "60s".', "0s", examples=("1s", "60s")),
                default={}),
          *_tyk("url", "proxy", "serviceDiscovery", "uptimeTests", "test", "mutualTLS", "certificatePinning",
                "authentication", "loadBalancing", "preserveHostHeader", "preserveTrailingSlash", "tlsTransport"),
          default={}),
)

MESSAGE_RATE_SPEC = s.obj(
    MESSAGE_RATE_KEY, "AsyncGate's per-subscriber message rate for the API's subscriptions.",
    s.integer("rate", "The most messages sent to one subscriber in any window of `per`.", examples=(5,)),
    s.duration("per", 'The window, e.g. "1s" or "60s".', examples=("1s",)),
    s.string("action", "What happens to a subscriber over its rate: `drop` the messages over it, or `close` "
                       "its connection (WebSocket close 1008).", "drop", options=ACTIONS),
)


@dataclass
class ApiDefinition:
    id: str
    name: str
    active: bool
    listen_path: str  # as written, e.g. "/orders/"
    strip: bool
    context_variables: bool
    streams: LoadedConfig
    source: str  # the file it came from ("<admin>" or similar for a management API body)
    warnings: list[Diagnostic] = field(default_factory=list)
    text: str | None = None  # the document as received (management API GET returns it)
    listen_at: tuple[int, int] = (1, 1)  # where the listen path is written, for messages
    # The definition switches authentication on (see `auth`: what is checked; closed by default).
    requires_auth: bool = False
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    # upstream.rateLimit when enabled: (requests, per seconds)
    rate_limit: tuple[int, float] | None = None
    # middleware.global.skipRateLimit / skipQuota: keys' rate limits / quotas are not counted here
    skip_rate_limit: bool = False
    skip_quota: bool = False
    # x-asyncgate-message-rate: each subscriber's message rate (a key's message_rate/message_per override it)
    message_rate: MessageRate | None = None

    @property
    def prefix(self) -> str:
        """The normalised listen path: "/orders" (no trailing slash), "" for the root listen path "/"."""
        return normalise_listen_path(self.listen_path)

    @property
    def document(self) -> Any:
        return self.streams.document

    def matches(self, path: str) -> bool:
        prefix = self.prefix
        return not prefix or path == prefix or path.startswith(prefix + "/")

    def where(self) -> str:
        line, column = self.listen_at
        return f"{self.source}:{line}:{column}"


def normalise_listen_path(value: str) -> str:
    return "/" + value.strip("/") if value.strip("/") else ""


def derive_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "api"


# -- loading -------------------------------------------------------------------------------------------------

def load_api(file: str, environ: Any = None) -> ApiDefinition:
    """Read an API definition file; raise ConfigError with every located problem (warnings included)."""
    try:
        loaded = load_config(file, environ)
    except ConfigError as exc:
        raise _with_gateway_diagnostics(exc, _read_quietly(file), file, environ) from None
    text = _read_quietly(file)
    return _finish(loaded, file, text)


def load_api_text(text: str, file: str = "<api>", environ: Any = None) -> ApiDefinition:
    """The same for a document given as text (YAML or JSON), e.g. a management API request body."""
    try:
        loaded = load_text(text, file, environ)
    except ConfigError as exc:
        raise _with_gateway_diagnostics(exc, text, file, environ) from None
    return _finish(loaded, file, text)


def is_api_definition(file: str) -> bool:
    """Whether FILE is meant for the gateway: a document with an x-tyk-api-gateway block (cheap: parses only)."""
    text = _read_quietly(file)
    if text is None:
        return False
    try:
        document, _ = parse_document(text, file)
    except ConfigError:
        return GATEWAY_KEY in text  # unparsable (e.g. an unset ${VAR}): decide by the text
    return isinstance(document, dict) and GATEWAY_KEY in document


def gateway_diagnostics(file: str) -> list[Diagnostic]:
    """What the gateway has to say about FILE (for `asyncgate lint`): nothing unless it is an API definition;
    else its errors (listen path, ids, ...) and warnings (Tyk fields not implemented, context variables)."""
    if not is_api_definition(file):
        return []
    try:
        return load_api(file).warnings[:]
    except ConfigError as exc:
        return list(exc.diagnostics)


def _read_quietly(file: str) -> str | None:
    """FILE's text, or None (unreadable, not UTF-8, or larger than any config: `lint /dev/zero` must end)."""
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            return None
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _with_gateway_diagnostics(exc: ConfigError, text: str | None, file: str, environ: Any) -> ConfigError:
    """The engine found problems in the streams: add the gateway's own, so one run shows them all."""
    if text is None:
        return exc
    try:
        document, locations = parse_document(text, file, environ)
    except ConfigError:
        return exc  # the document itself does not parse: the engine's message says why
    if not isinstance(document, dict):
        return exc
    errors, warnings, _ = _validate_gateway(document, locations)
    seen = set(exc.diagnostics)
    extra = [d for d in errors + warnings if d not in seen]
    return ConfigError(sorted(exc.diagnostics + extra, key=_order))


def _order(d: Diagnostic) -> tuple[int, int, int]:
    return (0 if d.severity == "error" else 1, d.line, d.column)


def _finish(loaded: LoadedConfig, file: str, text: str | None) -> ApiDefinition:
    document, locations = loaded.document, loaded.locations
    assert locations is not None
    errors, warnings, conf = _validate_gateway(document, locations)
    policy, said = read_policy(document, locations)
    errors += [d for d in said if d.severity == "error"]
    warnings += [d for d in said if d.severity != "error"]
    if loaded.shape != "openapi":
        errors.insert(0, Diagnostic(file, 1, 1, "not an API definition: expected an OpenAPI 3.x document with "
                                                "x-tyk-api-gateway and x-tyk-streaming (this is a stream config; "
                                                "run it with `asyncgate run`)"))
    warnings = loaded.warnings + warnings
    if errors or conf is None:
        raise ConfigError(sorted(errors, key=_order) + sorted(warnings, key=_order))
    info, server = conf["info"], conf["server"]
    name = info["name"] or _title(document) or ""
    api = ApiDefinition(
        id=info["id"] or derive_id(name),
        name=name or info["id"],
        active=info["state"]["active"],
        listen_path=server["listenPath"]["value"],
        strip=server["listenPath"]["strip"],
        context_variables=conf["middleware"]["global"]["contextVariables"]["enabled"],
        streams=loaded, source=file, text=text,
        listen_at=locations.value((GATEWAY_KEY, "server", "listenPath", "value")),
        requires_auth=policy.enabled, auth=policy, rate_limit=_rate_limit(conf),
        skip_rate_limit=conf["middleware"]["global"]["skipRateLimit"],
        skip_quota=conf["middleware"]["global"]["skipQuota"], message_rate=conf["message_rate"],
    )
    warnings += context_vars.lint(api)
    if not loaded.streams:
        warnings.append(locations.error((STREAMING_KEY,) if STREAMING_KEY in document else (),
                                        "the API has no streams: every request under its listen path gets 404",
                                        severity="warning"))
    api.warnings = sorted(set(warnings), key=_order)
    return api


def _rate_limit(conf: dict[str, Any]) -> tuple[int, float] | None:
    limit = conf["upstream"]["rateLimit"]
    return (limit["requests"], limit["per"]) if limit["enabled"] else None


def _title(document: dict[str, Any]) -> str:
    info = document.get("info")
    title = info.get("title") if isinstance(info, dict) else None
    return title if isinstance(title, str) else ""


class _GatewayValidator(Validator):
    """Validates x-tyk-api-gateway: Tyk fields we do not implement warn only when they are switched on,
    each at the setting that is on."""

    def __init__(self, locations: Locations, document: dict[str, Any]) -> None:
        super().__init__(locations)
        self.document = document

    def warn(self, path: tuple[Any, ...], message: str) -> None:
        value = _lookup(self.document, path)
        if path[-2:] in (("server", "authentication"), ("global", "cors")):
            return  # read by auth.read_policy, which says what it does not implement
        for active in _active_settings(value, path):
            hint = _HINTS.get(str(active[-1])) or _HINTS.get(str(path[-1])) or ""
            message = f"{path_text(active)}: not implemented by AsyncGate; ignored" + (f" ({hint})" if hint else "")
            self.warnings.append(self.loc.error(active, message, at_key=True, severity="warning"))


def _validate_gateway(document: dict[str, Any], locations: Locations
                      ) -> tuple[list[Diagnostic], list[Diagnostic], dict[str, Any] | None]:
    v = _GatewayValidator(locations, document)
    openapi = document.get("openapi")
    if openapi is None:
        v.warnings.append(locations.error((), 'no "openapi" version: an API definition is an OpenAPI 3.x document',
                                          severity="warning"))
    elif not str(openapi).startswith("3."):
        v.error(("openapi",), f'openapi: version "{openapi}" is not supported; API definitions are OpenAPI 3.x')
    paths = document.get("paths")
    if isinstance(paths, dict) and paths:
        v.warnings.append(locations.error(("paths",), "paths: OpenAPI operations are not proxied by AsyncGate "
                                                      "(there is no upstream); only x-tyk-streaming endpoints are "
                                                      "served", at_key=True, severity="warning"))
    security = document.get("security")
    if isinstance(security, list) and any(security) and not _authentication_enabled(document):
        v.warnings.append(locations.error(("security",), "security: has no effect unless "
                                                         f"{GATEWAY_KEY}.server.authentication is enabled (as in Tyk): "
                                                         "the API is served without credentials", at_key=True,
                                          severity="warning"))
    message_rate = _message_rate(document, v)
    gateway = document.get(GATEWAY_KEY)
    if gateway is None:
        v.error((), f"not an API definition for the gateway: {GATEWAY_KEY}.server.listenPath.value is missing "
                    f"(the path under which the API is served)")
        return v.errors, v.warnings, None
    base = (GATEWAY_KEY,)
    pruned = _prune_unknown(GATEWAY_SPEC, gateway, base, v)
    conf = v.object(GATEWAY_SPEC, pruned, base)
    if conf is None or v.errors:
        return v.errors, v.warnings, None
    listen = conf["server"]["listenPath"]["value"]
    where = base + ("server", "listenPath", "value")
    if not listen.startswith("/"):
        v.error(where, f'listenPath.value: "{listen}" must start with "/"')
    elif "{" in listen or "}" in listen:
        v.error(where, f'listenPath.value: "{listen}": path parameters in listen paths are not supported')
    elif "//" in listen or any(part in (".", "..") for part in listen.split("/")):
        v.error(where, f'listenPath.value: "{listen}" is not a clean path')
    else:
        prefix = normalise_listen_path(listen)
        for reserved in RESERVED_PATHS:
            if prefix == reserved or prefix.startswith(reserved + "/"):
                v.error(where, f'listenPath.value: "{listen}" is reserved for the gateway ({reserved})')
    limit = conf["upstream"]["rateLimit"]
    if limit["enabled"]:
        where = base + ("upstream", "rateLimit")
        if limit["requests"] < 1:
            v.error(where + ("requests",), f"upstream.rateLimit.requests: must be at least 1 when the rate limit "
                                           f"is enabled (got {limit['requests']})")
        if limit["per"] <= 0:
            v.error(where + ("per",) if "per" in (_lookup(document, where) or {}) else where,
                    'upstream.rateLimit.per: a positive duration (e.g. "1s") is needed when the rate limit is '
                    "enabled")
    api_id = conf["info"]["id"]
    if api_id and not _ID.fullmatch(api_id):
        v.error(base + ("info", "id"), f'info.id: "{api_id}" may contain only letters, digits and ._~- '
                                       f'(it is part of the management API\'s URLs)')
    if not conf["info"]["name"] and not _title(document) and not api_id:
        v.error(base + ("info",), "info.name: the API needs a name (or an id)")
    conf["message_rate"] = message_rate
    return v.errors, v.warnings, conf


def _message_rate(document: dict[str, Any], v: Validator) -> MessageRate | None:
    if MESSAGE_RATE_KEY not in document:
        return None
    base = (MESSAGE_RATE_KEY,)
    errors = len(v.errors)
    conf = v.object(MESSAGE_RATE_SPEC, document[MESSAGE_RATE_KEY], base)
    if conf is None or len(v.errors) > errors:
        return None
    if conf["rate"] < 1:
        v.error(base + ("rate",), f"{MESSAGE_RATE_KEY}.rate: must be at least 1 (got {conf['rate']})")
    if conf["per"] <= 0:
        v.error(base + ("per",), f'{MESSAGE_RATE_KEY}.per: must be a positive duration (e.g. "1s")')
    if len(v.errors) > errors:
        return None
    return MessageRate(conf["rate"], conf["per"], conf["action"])


def _prune_unknown(spec: s.Field, value: Any, path: tuple[Any, ...], v: Validator) -> Any:
    """A copy of VALUE without the keys SPEC does not know, each reported as a warning: Tyk grows new fields,
    and a real Tyk document must still load (a misspelt required field is still an error, as missing)."""
    if not isinstance(value, dict) or spec.type != "object":
        return value
    known = [c.name for c in spec.children]
    result = {}
    for key, item in value.items():
        child = spec.child(key)
        if child is None:
            v.warnings.append(v.loc.error(path + (key,), f'{path_text(path + (key,))}: unknown field, ignored'
                                                         f'{suggest(key, known)}; known here: {", ".join(known)}',
                                          at_key=True, severity="warning"))
            continue
        result[key] = _prune_unknown(child, item, path + (key,), v) if child.type == "object" else item
    return result


def _lookup(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(document, dict):
            document = document.get(key)
        elif isinstance(document, list) and isinstance(key, int) and 0 <= key < len(document):
            document = document[key]
        else:
            return None
    return document


def _inert(value: Any) -> bool:
    """Switched off or empty: `enabled: false`, false, "", null, empty lists and maps, or made only of those."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, dict):
        if value.get("enabled") is False:
            return True
        return all(_inert(v) for v in value.values())
    return False


def _active_settings(value: Any, path: tuple[Any, ...]) -> Iterable[tuple[Any, ...]]:
    """The paths inside an unimplemented block that are actually switched on (one level of grouping down)."""
    if _inert(value):
        return []
    if isinstance(value, dict) and "enabled" not in value:
        found: list[tuple[Any, ...]] = []
        for key, item in value.items():
            found.extend(_active_settings(item, path + (key,)))
        return found
    return [path]


# -- a set of APIs -------------------------------------------------------------------------------------------

def check_together(apis: Iterable[ApiDefinition]) -> list[Diagnostic]:
    """Problems between APIs served together: two with one id, two active ones on one listen path."""
    errors: list[Diagnostic] = []
    by_id: dict[str, ApiDefinition] = {}
    by_prefix: dict[str, ApiDefinition] = {}
    for api in apis:
        line, column = api.listen_at
        first = by_id.get(api.id)
        if first is not None:
            errors.append(Diagnostic(api.source, 1, 1, f'API id "{api.id}" is also the id of the API in '
                                                       f'{first.source}; ids must be unique'))
            continue
        by_id[api.id] = api
        if not api.active:
            continue
        taken = by_prefix.get(api.prefix)
        if taken is not None:
            errors.append(Diagnostic(api.source, line, column,
                                     f'listen path "{api.listen_path}" is already served by API "{taken.id}" '
                                     f'({taken.where()})'))
            continue
        by_prefix[api.prefix] = api
    return errors


API_SUFFIXES = (".yaml", ".yml", ".json")


def api_files(paths: Iterable[str]) -> list[str]:
    """The API definition files named by PATHS: files as given, directories' *.yaml, *.yml, *.json (sorted)."""
    files: list[str] = []
    for path in paths:
        p = FilePath(path)
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.iterdir()) if f.suffix.lower() in API_SUFFIXES and f.is_file())
        else:
            files.append(str(p))
    return list(dict.fromkeys(files))
