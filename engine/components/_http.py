"""What the http_server input and output share: raw ASGI helpers (request metadata, bodies,
multipart, CORS) and the way the gateway finds the components behind a route table.

No web framework here (the engine stays framework-free): plain ASGI messages only.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .. import spec as s
from ..runtime.http import Receive, Scope, Send, send_problem

if TYPE_CHECKING:
    from ..runtime.http import RouteTable

__all__ = [
    "CORS_FIELD",
    "BodyTooLarge",
    "ClientGone",
    "Cors",
    "canonical_header",
    "encode_multipart",
    "header",
    "http_components",
    "method_not_allowed",
    "read_body",
    "request_metadata",
    "send_bytes",
    "send_problem",
    "split_multipart",
]


class ClientGone(Exception):
    """The client disconnected before the request was answered."""


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body larger than {limit} bytes")


# -- headers -----------------------------------------------------------------
_CANONICAL: dict[str, str] = {}


_CANONICAL_RAW: dict[bytes, str] = {}  # the same, by the raw header name of the ASGI scope


def canonical_header(name: str) -> str:
    """Go's canonical MIME header key ("x-user-id" → "X-User-Id"): the names Bento's metadata uses."""
    found = _CANONICAL.get(name)
    if found is None:
        found = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        if len(_CANONICAL) < 4096:
            _CANONICAL[name] = found
    return found


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header NAME (lower case) in the request, or None."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return None


def request_metadata(scope: Scope, prefix_keys: bool = False) -> dict[str, Any]:
    """Bento's http_server metadata: every header (first value, canonical name), query parameter
    (first value) and cookie, plus http_server_user_agent / _request_path / _verb / _remote_ip.
    With PREFIX_KEYS, header keys get `header_`, query keys `query_` and cookie keys `cookie_`."""
    meta: dict[str, Any] = {}
    cookies: list[tuple[str, str]] = []
    for raw_key, raw_value in scope.get("headers") or ():
        key = _CANONICAL_RAW.get(raw_key)
        if key is None:
            key = canonical_header(raw_key.decode("latin-1"))
            if len(_CANONICAL_RAW) < 4096:
                _CANONICAL_RAW[raw_key] = key
        value = raw_value.decode("latin-1")
        if raw_key == b"cookie":
            cookies.extend(_parse_cookies(value))
        name = "header_" + key if prefix_keys else key
        if name not in meta:
            meta[name] = value
    # As in Bento, query parameters then cookies overwrite headers of the same name (first value each).
    query = scope.get("query_string") or b""
    if query:
        seen: set[str] = set()
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key not in seen:
                seen.add(key)
                meta["query_" + key if prefix_keys else key] = value
    seen_cookies: set[str] = set()
    for key, value in cookies:
        if key not in seen_cookies:
            seen_cookies.add(key)
            meta["cookie_" + key if prefix_keys else key] = value
    user_agent = header(scope, b"user-agent")
    meta["http_server_user_agent"] = user_agent.decode("latin-1") if user_agent is not None else ""
    meta["http_server_request_path"] = (scope.get("root_path") or "") + scope.get("path", "")
    meta["http_server_verb"] = scope.get("method", "GET")
    client = scope.get("client")
    meta["http_server_remote_ip"] = client[0] if client else ""
    return meta


def _parse_cookies(text: str) -> Iterable[tuple[str, str]]:
    for item in text.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep and name:
            yield name, value.strip().strip('"')


# -- bodies ------------------------------------------------------------------
async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body; BodyTooLarge past LIMIT bytes (0: no limit), ClientGone on disconnect."""
    if limit:
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        body = message.get("body", b"")
        if body:
            size += len(body)
            if limit and size > limit:
                raise BodyTooLarge(limit)
            chunks.append(body)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def split_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]] | None:
    """The parts of a multipart/* BODY as (headers, payload), or None when CONTENT_TYPE is not
    multipart. Raises ValueError for a multipart body that does not parse."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    mime, options = parse_options_header(content_type)
    if not mime.lower().startswith(b"multipart/"):
        return None
    boundary = options.get(b"boundary")
    if not boundary:
        raise ValueError("multipart content type without a boundary")
    parts: list[tuple[dict[str, str], bytes]] = []
    state: dict[str, Any] = {}

    def on_part_begin() -> None:
        state["headers"], state["data"] = {}, []
        state["field"], state["value"] = [], []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"].append(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"].append(data[start:end])

    def on_header_end() -> None:
        name = canonical_header(b"".join(state["field"]).decode("latin-1").strip())
        state["headers"].setdefault(name, b"".join(state["value"]).decode("latin-1").strip())
        state["field"], state["value"] = [], []

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_part_end() -> None:
        parts.append((state["headers"], b"".join(state["data"])))

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end, "on_end": on_end,
    }, max_header_count=64)
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 - the parser's own errors, worded for the client
        raise ValueError(f"malformed multipart body: {exc}") from None
    if not state.get("ended"):
        raise ValueError("malformed multipart body: no closing boundary")
    return parts


def encode_multipart(parts: list[tuple[list[tuple[str, str]], bytes]],
                     subtype: str = "mixed") -> tuple[bytes, bytes]:
    """(content type, body) of a multipart/SUBTYPE message of PARTS (RFC 1341/2046)."""
    boundary = uuid.uuid4().hex
    out: list[bytes] = []
    for headers, payload in parts:
        out.append(b"--" + boundary.encode() + b"\r\n")
        for name, value in headers:
            out.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
        out.append(b"\r\n")
        out.append(payload)
        out.append(b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return f"multipart/{subtype}; boundary={boundary}".encode(), b"".join(out)


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None,
                     content_type: bytes | None = None) -> None:
    out = list(headers or ())
    if content_type is not None:
        out.append((b"content-type", content_type))
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def method_not_allowed(send: Send, method: str, allowed: list[str], extra: list[tuple[bytes, bytes]]) -> None:
    await send_problem(send, 405, "Method Not Allowed",
                       f"{method} is not allowed here; allowed: {', '.join(allowed) or 'none'}",
                       headers=[(b"allow", ", ".join(allowed).encode()), *extra])


# -- CORS --------------------------------------------------------------------
CORS_DEFAULT_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def cors_field(with_methods: bool = False) -> s.Field:
    children = [
        s.boolean("enabled", "Whether to allow CORS requests.", False),
        s.Field("allowed_origins", "string", "An explicit list of origins that are allowed for CORS requests "
                "(`*` allows any).", default=[], kind="list"),
    ]
    if with_methods:
        children += [
            s.Field("allowed_headers", "string", "Headers allowed in CORS requests, in addition to Accept, "
                    "Accept-Language, Content-Language and Origin.", default=[], kind="list"),
            s.Field("allowed_methods", "string", "The methods listed in Access-Control-Allow-Methods.",
                    default=list(CORS_DEFAULT_METHODS), kind="list"),
        ]
    return s.obj("cors", "Adds Cross-Origin Resource Sharing headers.", *children, default={}, advanced=True)


CORS_FIELD = cors_field()
_SAFE_HEADERS = ["Accept", "Accept-Language", "Content-Language", "Origin"]


class Cors:
    """Bento's `cors` block: an allowed Origin is echoed in Access-Control-Allow-Origin, and
    OPTIONS preflight requests are answered."""

    def __init__(self, conf: dict[str, Any] | None, methods: list[str] | None = None) -> None:
        conf = conf or {}
        self.enabled = bool(conf.get("enabled"))
        origins = [str(o) for o in conf.get("allowed_origins") or []]
        if self.enabled and not origins:
            raise ValueError("cors: enabled without any allowed_origins")
        self.any_origin = "*" in origins
        self.origins = {o.rstrip("/").lower() for o in origins}
        self.methods = ", ".join(conf.get("allowed_methods") or methods or CORS_DEFAULT_METHODS).encode()
        self.allow_headers = [h.lower() for h in (_SAFE_HEADERS + list(conf.get("allowed_headers") or []))]

    def headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Response headers for this request (empty unless CORS is on and the origin allowed)."""
        if not self.enabled:
            return []
        origin = header(scope, b"origin")
        if origin is None or not self._allowed(origin):
            return []
        return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]

    def _allowed(self, origin: bytes) -> bool:
        return self.any_origin or origin.decode("latin-1").rstrip("/").lower() in self.origins

    def is_preflight(self, scope: Scope) -> bool:
        return (self.enabled and scope.get("method") == "OPTIONS"
                and header(scope, b"access-control-request-method") is not None)

    async def preflight(self, scope: Scope, send: Send) -> None:
        headers = self.headers(scope)
        if headers:
            requested = header(scope, b"access-control-request-headers")
            if requested:
                asked = [h.strip() for h in requested.decode("latin-1").split(",") if h.strip()]
                ok = [h for h in asked if h.lower() in self.allow_headers or self._allow_any_header]
                if ok:
                    headers.append((b"access-control-allow-headers", ", ".join(ok).encode()))
            headers.append((b"access-control-allow-methods", self.methods))
        await send_bytes(send, 204 if headers else 403, b"", headers)

    @property
    def _allow_any_header(self) -> bool:
        return "*" in self.allow_headers


# -- finding the components behind a route table ----------------------------------
def http_components(routes: RouteTable) -> list[Any]:
    """The http_server inputs and outputs serving ROUTES, each once, in path order.

    Each has `stats` (a dict of counters), `close_clients(code, reason)` and `endpoints`."""
    found: list[Any] = []
    for kind, path, _ in routes.paths():
        app = routes.match(kind, path)
        owner = getattr(app, "__self__", None)
        if owner is not None and hasattr(owner, "close_clients") and all(owner is not f for f in found):
            found.append(owner)
    return found


_INVALID_HEADER_VALUE = re.compile(r"[\r\n\x00]")


def safe_header_value(value: str) -> str:
    """A header value without the characters that would split or end the header."""
    return _INVALID_HEADER_VALUE.sub(" ", value)
