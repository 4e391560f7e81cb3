"""HMAC request signatures (Tyk's `x-tyk-api-gateway.server.authentication.hmac`).

A client signs each request with its key's `hmac_string` (keys.py) and presents

    Authorization: Signature keyId="<api key>",algorithm="hmac-sha256",headers="(request-target) date",
                   signature="<base64 of the HMAC of the signing string>"

The signing string has one line per header listed in `headers` (default `date`), lower-case `name: value`,
joined by newlines; `(request-target)` stands for `<method, lower case> <path>[?<query>]` as sent. The
signature may be URL-encoded (as Tyk's clients send it). Checked: the algorithm is in `allowedAlgorithms`
(hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512; when the list is absent, all but hmac-sha1), `date` is
signed and the `Date` header is within `allowedClockSkew` milliseconds of the gateway's clock (the replay
window; Tyk turns the check off with 0, AsyncGate then uses 300 000 ms, and lint says so). A signature can be
replayed within that window: keep it short.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from engine.runtime.http import Scope

from ..keys import KeyStore
from .outcome import MAX_CREDENTIAL, Denial, Identity, too_large
from .places import Place, credential, describe, find

log = logging.getLogger("asyncgate.auth")

ALGORITHMS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
              "hmac-sha512": hashlib.sha512}
DEFAULT_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512")
DEFAULT_SKEW_MS = 300_000.0
NAME = "hmac"
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')  # name="value", then a comma or the end


@dataclass(frozen=True)
class SignatureParams:
    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes


def parse_signature(value: str) -> SignatureParams | str:
    """The parameters of a `Signature` credential (without its `Signature ` prefix), or what is wrong with it."""
    params: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _PARAM.match(value, position)
        if match is None or match.end() == position:
            return 'expected keyId="...",algorithm="...",headers="...",signature="..."'
        name = match.group(1)
        if name in params:
            return f"the parameter {name} is given twice"
        params[name] = match.group(2)
        position = match.end()
    missing = [p for p in ("keyId", "algorithm", "signature") if not params.get(p)]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        signature = base64.b64decode(unquote(params["signature"]), validate=True)
    except (binascii.Error, ValueError):
        return "the signature is not base64"
    headers = tuple(params.get("headers", "date").lower().split()) or ("date",)
    return SignatureParams(params["keyId"], params["algorithm"].lower(), headers, signature)


def signing_string(scope: Scope, headers: tuple[str, ...]) -> tuple[str, str]:
    """(the string the client signed, ""), or ("", the name of a covered header the request lacks)."""
    present: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers") or []:
        present.setdefault(raw_name.decode("latin-1").lower(), []).append(raw_value.decode("latin-1").strip())
    lines = []
    for name in headers:
        if name == "(request-target)":
            path = (scope.get("raw_path") or scope.get("path", "").encode()).decode("latin-1")
            query = (scope.get("query_string") or b"").decode("latin-1")
            lines.append(f"{name}: {scope.get('method', 'GET').lower()} {path}" + (f"?{query}" if query else ""))
        elif name in present:
            lines.append(f"{name}: {', '.join(present[name])}")
        else:
            return "", name
    return "\n".join(lines), ""


def date_skew(value: str | None, now: float) -> float | None:
    """How far (seconds, absolute) the Date header VALUE is from NOW, or None when it is not an HTTP date."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        return abs(when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class HmacScheme:
    places: tuple[Place, ...]
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    skew_ms: float = DEFAULT_SKEW_MS
    name: str = NAME

    def denial(self, detail: str, missing: bool = False) -> Denial:
        return Denial(401, detail, self.name, "Signature", missing)

    async def authenticate(self, scope: Scope, keys: KeyStore, api_id: str) -> Identity | Denial:
        value = credential(scope, self.places, prefix="signature")
        if value is None:
            return self.denial(f"API {api_id} needs a signed request (an HMAC Signature in {describe(self.places)})", missing=True)
        if len(value) > MAX_CREDENTIAL:
            return too_large("Signature", self.name)
        params = parse_signature(value)
        if isinstance(params, str):
            return self.denial(f"the Signature presented is malformed: {params}")
        if params.algorithm not in self.algorithms:
            return self.denial(f'the Signature algorithm "{params.algorithm[:40]}" is not allowed (allowed: '
                               f"{', '.join(self.algorithms)})")
        if "date" not in params.headers:
            return self.denial("the Signature must cover the date header (headers=\"date ...\")")
        string, missing = signing_string(scope, params.headers)
        if missing:
            return self.denial(f'the Signature covers the header "{missing[:40]}", which the request does not have')
        skew = date_skew(find(scope, "header", "date"), time.time())
        if skew is None:
            return self.denial("the Date header is not an HTTP date")
        if skew * 1000 > self.skew_ms:
            return self.denial(f"the request's Date is more than {self.skew_ms / 1000:g}s from the gateway's clock")
        session = await keys.lookup(params.key_id) if len(params.key_id) <= MAX_CREDENTIAL else None
        if session is None or not session.hmac_enabled:
            return self.denial("the keyId presented is not a key that signs requests")
        if session.expired():
            return self.denial("the key presented has expired")
        secret = keys.hmac_secret(session)
        if secret is None:
            log.warning("key %s: its HMAC secret cannot be opened (was ASYNCGATE_KEY_SALT changed?)", session.id)
            return self.denial("the key presented cannot verify signatures")
        digest = hmac.new(secret.encode(), string.encode("latin-1"), ALGORITHMS[params.algorithm]).digest()
        if not hmac.compare_digest(digest, params.signature):
            return self.denial("the Signature presented does not match the request")
        return Identity(session, "hmac")
