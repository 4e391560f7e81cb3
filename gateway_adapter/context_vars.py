"""Tyk context variables (`$tyk_context.<name>`) in stream configs, rendered per request.

Where an API enables `middleware.global.contextVariables`, a stream whose config mentions a variable is a
template: each request renders it with its own values, and every distinct rendering runs as its own stream
instance (see api_runtime.py). That is how `consumer_group: $tyk_context.request_ip` gives each client IP
its own copy of a topic.

Variables (as Tyk names them): `request_ip` (also `remote_addr`), `request_id` (a new UUID per request),
`path`, `path_parts` (the path split on "/", comma-joined), `token` (the Authorization header, without a
"Bearer " prefix), `headers_<Name>` (`-` written as `_`, matched without regard to case),
`request_data_<field>` (query parameters and urlencoded form fields; several values comma-joined),
`cookies_<name>`, `jwt_claims_<claim>` (empty until JWT authentication exists).

Variables stand in string values (a consumer group, a topic, a mapping, ...): the config is validated
unrendered when the API loads, so a field that must be a number cannot hold one. Rendering happens on the
parsed config, inside string values only, so no value can change the shape of the YAML; values holding
characters that could break out of a quoted Bloblang string (`"`, `\\`, `$`, `{`, `}`, a backtick, control
characters) are refused (400).
"""

from __future__ import annotations

import re
import uuid
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import parse_qsl

from engine.config.loader import LoadedConfig
from engine.config.validate import Validator
from engine.errors import ConfigError, Diagnostic

if TYPE_CHECKING:
    from .apis import ApiDefinition

VARIABLE = re.compile(r"\$tyk_context\.([A-Za-z0-9_]+)")
PREFIXES = ("headers_", "request_data_", "jwt_claims_", "cookies_")
NAMES = ("request_ip", "remote_addr", "request_id", "path", "path_parts", "token")
# Which variables need the request body (urlencoded form fields).
_BODY_PREFIX = "request_data_"
FORM_LIMIT = 1 << 20
_UNSAFE = re.compile(r'["\\$`{}]')
_STREAMING = "x-tyk-streaming"


class ContextValueError(ValueError):
    """A request's value cannot go into a stream config."""

    def __init__(self, name: str, why: str, status: int = 400) -> None:
        self.name = name
        self.status = status
        super().__init__(f"context variable {name}: {why}")


def known(name: str) -> bool:
    return name in NAMES or any(name.startswith(p) and len(name) > len(p) for p in PREFIXES)


# -- where variables are ----------------------------------------------------------------------------------

def _strings(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, path + (i,))


def _scope(document: Any, stream: str) -> dict[str, Any]:
    """The part of the document one stream's instance is built from: its body plus the shared blocks."""
    streaming = document.get(_STREAMING) if isinstance(document, dict) else None
    if not isinstance(streaming, dict):
        return {}
    part = {k: v for k, v in streaming.items() if k != "streams"}
    streams = streaming.get("streams")
    part["streams"] = {stream: streams[stream]} if isinstance(streams, dict) and stream in streams else {}
    return part


def stream_variables(api: "ApiDefinition", stream: str) -> tuple[str, ...]:
    """The context variables STREAM's config mentions (sorted), or () when it is one static instance."""
    if not api.context_variables:
        return ()
    found = {m.group(1) for _, text in _strings(_scope(api.document, stream), (_STREAMING,))
             for m in VARIABLE.finditer(text)}
    return tuple(sorted(found))


def lint(api: "ApiDefinition") -> list[Diagnostic]:
    """Warnings about variables: unknown names, variables in an API that does not enable them."""
    locations = api.streams.locations
    document = api.document
    if locations is None or not isinstance(document, dict) or _STREAMING not in document:
        return []
    warnings: list[Diagnostic] = []
    told_disabled = False
    for path, text in _strings(document[_STREAMING], (_STREAMING,)):
        for match in VARIABLE.finditer(text):
            name = match.group(1)

            def warn(message: str, text: str = text, start: int = match.start(),
                     path: tuple[Any, ...] = path) -> None:
                before = text[:start]
                line = before.count("\n") + 1
                column = start - (before.rfind("\n") + 1) + 1
                where = locations.inside(path, line, column)
                warnings.append(Diagnostic(locations.file, *where, message, "warning"))

            if not api.context_variables:
                if not told_disabled:
                    told_disabled = True
                    warn(f"$tyk_context.{name} is used literally: this API does not enable "
                         f"x-tyk-api-gateway.middleware.global.contextVariables")
                continue
            if not known(name):
                from engine.registry import suggest

                warn(f"$tyk_context.{name}: unknown context variable (renders empty){suggest(name, NAMES)}; "
                     f"known: {', '.join(NAMES)}, {', '.join(p + '<name>' for p in PREFIXES)}")
            elif name.startswith("jwt_claims_"):
                warn(f"$tyk_context.{name}: JWT claims are not available yet (renders empty)")
    return warnings


# -- a request's values -----------------------------------------------------------------------------------

def needs_body(names: tuple[str, ...]) -> bool:
    return any(n.startswith(_BODY_PREFIX) for n in names)


async def request_values(names: tuple[str, ...], scope: dict[str, Any], receive: Any, path: str
                         ) -> tuple[dict[str, str], Any]:
    """The values of NAMES for this request, and the `receive` to pass on (a form body read here is replayed)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or []:
        key = raw_name.decode("latin-1").lower()
        if key not in headers:
            headers[key] = raw_value.decode("latin-1")
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    form: list[tuple[str, str]] = []
    if needs_body(names) and scope["type"] == "http" and _is_form(headers):
        body, receive = await _read_body(receive)
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    values: dict[str, str] = {}
    for name in names:
        values[name] = _value(name, scope, headers, query, form, path)
    for name, value in values.items():
        check_value(name, value)
    return values, receive


def _value(name: str, scope: dict[str, Any], headers: dict[str, str], query: list[tuple[str, str]],
           form: list[tuple[str, str]], path: str) -> str:
    if name in ("request_ip", "remote_addr"):
        client = scope.get("client")
        return str(client[0]) if client else ""
    if name == "request_id":
        return str(uuid.uuid4())
    if name == "path":
        return path
    if name == "path_parts":
        return ",".join(path.split("/"))
    if name == "token":
        token = headers.get("authorization", "")
        return token[7:].strip() if token[:7].lower() == "bearer " else token
    if name.startswith("headers_"):
        return headers.get(name[len("headers_"):].replace("_", "-").lower(), "")
    if name.startswith("request_data_"):
        field = name[len("request_data_"):]
        # As Go's Request.Form: form fields first, then query parameters.
        return ",".join([v for k, v in form if k == field] + [v for k, v in query if k == field])
    if name.startswith("cookies_"):
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:
            return ""
        morsel = cookie.get(name[len("cookies_"):])
        return morsel.value if morsel is not None else ""
    return ""  # jwt_claims_* (no JWT yet) and unknown names


def check_value(name: str, value: str) -> None:
    bad = _UNSAFE.search(value)
    if bad is not None:
        raise ContextValueError(name, f'holds "{bad.group(0)}", which is not allowed in a value that goes into a '
                                      f"stream config")
    if not value.isprintable():
        raise ContextValueError(name, "holds control characters, which are not allowed in a value that goes "
                                      "into a stream config")


def _is_form(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


async def _read_body(receive: Any) -> tuple[bytes, Any]:
    chunks: list[bytes] = []
    size = 0
    messages: list[dict[str, Any]] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_LIMIT:
            raise ContextValueError("request_data", f"a form body over {FORM_LIMIT} bytes cannot be read for "
                                                    f"context variables", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replay = [{"type": "http.request", "body": body, "more_body": False}]
    if messages and messages[-1]["type"] != "http.request":
        replay.append(messages[-1])

    async def replaying() -> dict[str, Any]:
        if replay:
            return replay.pop(0)
        return await receive()

    return body, replaying


# -- rendering --------------------------------------------------------------------------------------------

def render(api: "ApiDefinition", stream: str, values: dict[str, str]) -> LoadedConfig:
    """STREAM's config with VALUES in place of its variables, validated as the engine validates configs.

    Errors are located in the API's own file (the rendered values stand where the variables stood)."""
    from engine.config.loader import _load_openapi  # the engine's own validation of an x-tyk-streaming block

    locations = api.streams.locations
    assert locations is not None
    part = _substitute(_scope(api.document, stream), values)
    v = Validator(locations)
    rendered = _load_openapi({_STREAMING: part}, v, api.source)
    rendered.document = {_STREAMING: part}
    rendered.locations = locations
    if v.errors:
        raise ConfigError(sorted(v.errors, key=lambda d: (d.line, d.column)))
    return rendered


def _substitute(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        if "$tyk_context." not in value:
            return value
        return VARIABLE.sub(lambda m: values.get(m.group(1), ""), value)
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value
