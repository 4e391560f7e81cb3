"""JWT bearer authentication: OpenAPI `{type: http, scheme: bearer, bearerFormat: JWT}` with Tyk's settings at
`x-tyk-api-gateway.server.authentication.securitySchemes.<name>`:

- `source`: where the verification key comes from: the base64 of an HMAC secret, the base64 of a PEM public
  key (or certificate), or a JWKS URL (plain or base64; see jwks.py);
- `signingMethod`: `hmac` (HS256/384/512), `rsa` (RS256/384/512) or `ecdsa` (ES256/384/512). A token whose
  `alg` is outside that family is refused, and so is `alg: none`, always;
- `identityBaseField` (default `sub`; Tyk falls back to `sub` when the claim is missing), `policyFieldName`
  (a claim holding a policy id or a list of them), `defaultPolicies` (when the token names none);
- `issuedAtValidationSkew`, `notBeforeValidationSkew`, `expiresAtValidationSkew`: seconds of clock skew
  allowed for `iat`, `nbf`, `exp` (each checked only when the token has it, as Tyk does);
- where the token is: the `Authorization` header (`Bearer <token>` or the raw token) unless Tyk's `header`,
  `query` or `cookie` say otherwise (places.py).

A valid token yields a virtual Session, never stored: its id is derived from a hash of the identity (so rate
limits and quotas count per identity), its alias is the identity, its `policies` come from the token (or the
defaults) and it has no access rights of its own: access comes from its policies (check.authorize).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from engine.runtime.http import Scope

from ..keys import KeyStore, Session
from .jwks import Jwks
from .outcome import MAX_CREDENTIAL, Denial, Identity, too_large
from .places import AUTHORIZATION, Place, credential, describe, tyk_places

FAMILIES = {"hmac": ("HS256", "HS384", "HS512"), "rsa": ("RS256", "RS384", "RS512"),
            "ecdsa": ("ES256", "ES384", "ES512")}
KEY_TYPES = {"hmac": "oct", "rsa": "RSA", "ecdsa": "EC"}
SKEWS = {"iat": "issuedAtValidationSkew", "nbf": "notBeforeValidationSkew", "exp": "expiresAtValidationSkew"}
# Tyk settings read elsewhere or not at all (each one switched on is a lint warning).
UNIMPLEMENTED = ("skipKid", "clientBaseField", "scopes")
_DECODE_OPTIONS = {"verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                   "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False}


def identity_id(identity: str) -> str:
    """The id of a JWT identity's virtual session: stable, so its rate-limit and quota counters persist."""
    return "jwt-" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class JwtScheme:
    name: str
    places: tuple[Place, ...]
    method: str  # hmac | rsa | ecdsa
    key: Any = None  # the HMAC secret or public key; None when the keys come from a JWKS
    jwks: Jwks | None = field(default=None, compare=False)
    identity_field: str = "sub"
    policy_field: str = ""
    default_policies: tuple[str, ...] = ()
    skews: tuple[tuple[str, float], ...] = ()  # (claim, seconds) for iat, nbf, exp

    def denial(self, detail: str, missing: bool = False) -> Denial:
        return Denial(401, detail, self.name, missing=missing)

    async def authenticate(self, scope: Scope, keys: KeyStore, api_id: str) -> Identity | Denial:
        token = credential(scope, self.places)
        if token is None:
            return self.denial(f"API {api_id} needs a JWT (presented in {describe(self.places)})", missing=True)
        if len(token) > MAX_CREDENTIAL:
            return too_large("JWT", self.name)
        claims = await self.verify(token)
        if isinstance(claims, Denial):
            return claims
        identity = claims.get(self.identity_field)
        if not isinstance(identity, str) or not identity:
            identity = claims.get("sub")
        if not isinstance(identity, str) or not identity or len(identity) > 1024:
            return self.denial(f"the JWT has no identity (a non-empty string in the claim {self.identity_field}"
                               + (" or sub" if self.identity_field != "sub" else "") + ")")
        named = claims.get(self.policy_field) if self.policy_field else None
        if isinstance(named, str) and named:
            policies = [named]
        elif isinstance(named, list) and named and all(isinstance(p, str) for p in named):
            policies = list(named)
        else:
            policies = list(self.default_policies)
        return Identity(Session(id=identity_id(identity), key_hash="", alias=identity, policies=policies), "jwt")

    async def verify(self, token: str) -> dict[str, Any] | Denial:
        """The token's claims when its signature and times are valid, else a Denial."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return self.denial("the JWT presented is malformed")
        alg, kid = header.get("alg"), header.get("kid")
        allowed = FAMILIES[self.method]
        if not isinstance(alg, str):
            return self.denial("the JWT names no algorithm (alg)")
        if alg not in allowed:
            return self.denial(f'the JWT\'s algorithm "{alg[:20]}" is not accepted (the API accepts {", ".join(allowed)})')
        key = self.key
        if self.jwks is not None:
            found = await self.jwks.key(kid, KEY_TYPES[self.method])
            if isinstance(found, str):
                return self.denial(found)
            key = found.key
        try:
            claims = jwt.decode(token, key, algorithms=[alg], options=_DECODE_OPTIONS)  # type: ignore[arg-type]
        except jwt.InvalidSignatureError:
            return self.denial("the JWT's signature is not valid")
        except (jwt.PyJWTError, ValueError, TypeError):
            return self.denial("the JWT presented is malformed")
        return self._check_times(claims, time.time())

    def _check_times(self, claims: dict[str, Any], now: float) -> dict[str, Any] | Denial:
        skews = dict(self.skews)
        for claim in ("exp", "nbf", "iat"):
            if claim not in claims:
                continue
            value = claims[claim]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.denial(f"the JWT's {claim} is not a number")
            skew = skews.get(claim, 0.0)
            if claim == "exp" and now > value + skew:
                return self.denial("the JWT has expired")
            if claim == "nbf" and value > now + skew:
                return self.denial("the JWT is not valid yet (nbf)")
            if claim == "iat" and value > now + skew:
                return self.denial("the JWT was issued in the future (iat)")
        return claims


Say = Callable[[str, str, str], None]  # (field, message, severity) → a diagnostic at that Tyk setting


def read_jwt(name: str, tyk: dict[str, Any], say: Say) -> JwtScheme | None:
    """The scheme from its Tyk settings, or None (after saying why) when it cannot be satisfied."""
    method = tyk.get("signingMethod")
    if method not in FAMILIES:
        say("signingMethod" if "signingMethod" in tyk else "", f"signingMethod: {method!r} is not a signing method "
            "AsyncGate accepts (hmac, rsa or ecdsa): every request is refused", "error")
        return None
    source = tyk.get("source")
    if not isinstance(source, str) or not source.strip():
        say("source" if "source" in tyk else "", "source: the key to verify tokens with is missing (the base64 of "
            "an HMAC secret or of a PEM public key, or a JWKS URL): every request is refused", "error")
        return None
    key, url, problem = _key_from_source(method, source.strip())
    if problem:
        say("source", f"source: {problem}: every request is refused", "error")
        return None
    if method == "hmac" and len(key or b"") < 32:
        say("source", "source: the HMAC secret is shorter than 32 bytes: tokens signed with it can be guessed",
            "warning")
    identity_field = tyk.get("identityBaseField") or "sub"
    policy_field = tyk.get("policyFieldName") or ""
    defaults = tyk.get("defaultPolicies") or []
    for setting, value in (("identityBaseField", identity_field), ("policyFieldName", policy_field)):
        if not isinstance(value, str):
            say(setting, f"{setting}: expected a claim name (a string)", "error")
            return None
    if not isinstance(defaults, list) or not all(isinstance(p, str) for p in defaults):
        say("defaultPolicies", "defaultPolicies: expected a list of policy ids", "error")
        return None
    skews: list[tuple[str, float]] = []
    for claim, setting in SKEWS.items():
        value = tyk.get(setting, 0) or 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            say(setting, f"{setting}: expected a number of seconds (0 or more)", "error")
            return None
        skews.append((claim, float(value)))
    for setting in UNIMPLEMENTED:
        if tyk.get(setting) not in (None, False, "", [], {}):
            say(setting, f"{setting}: not implemented by AsyncGate; ignored", "warning")
    if not policy_field and not defaults:
        say("", "neither policyFieldName nor defaultPolicies: tokens name no policy, so they give access to no "
                "API (403)", "warning")
    return JwtScheme(name, tyk_places(AUTHORIZATION, tyk, openapi=False), method, key,
                     Jwks(url) if url else None, identity_field, policy_field, tuple(defaults), tuple(skews))


def _key_from_source(method: str, source: str) -> tuple[Any, str, str]:
    """(key, JWKS URL, problem): exactly one of the three is set."""
    if source.startswith(("http://", "https://")):
        return None, source, ""
    if source.startswith("-----BEGIN"):
        raw = source.encode()
    else:
        try:
            raw = base64.b64decode("".join(source.split()), validate=True)
        except (binascii.Error, ValueError):
            return None, "", "not base64 (nor a JWKS URL)"
        if raw.startswith((b"http://", b"https://")):
            try:
                return None, raw.decode("ascii"), ""
            except UnicodeDecodeError:
                return None, "", "a JWKS URL must be ASCII"
    if method == "hmac":
        return (raw, "", "") if raw else (None, "", "the HMAC secret is empty")
    try:
        if raw.lstrip().startswith(b"-----BEGIN CERTIFICATE"):
            public = x509.load_pem_x509_certificate(raw).public_key()
        else:
            public = load_pem_public_key(raw)
    except (ValueError, UnsupportedAlgorithm):
        return None, "", f"not a PEM public key or certificate (signingMethod {method} needs one)"
    wanted = rsa.RSAPublicKey if method == "rsa" else ec.EllipticCurvePublicKey
    if not isinstance(public, wanted):
        return None, "", f"the public key is not an {'RSA' if method == 'rsa' else 'EC'} key (signingMethod {method})"
    return public, "", ""
