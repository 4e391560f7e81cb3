"""The credential parsers of each scheme, and the lint of scheme settings. The parsers read what any client
sends: hypothesis feeds them garbage, and they must answer (credentials, None or a Denial), never raise."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from email.utils import formatdate
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from gateway_adapter import load_api_text
from gateway_adapter.auth.basic import BasicScheme, parse_basic
from gateway_adapter.auth.jwt_auth import JwtScheme
from gateway_adapter.auth.outcome import Denial, Identity
from gateway_adapter.auth.places import AUTHORIZATION, credential, tyk_places
from gateway_adapter.auth.signature import HmacScheme, SignatureParams, date_skew, parse_signature, signing_string
from gateway_adapter.keys import KeyStore

from .support import api_yaml

SECRET = b"a-shared-secret-of-at-least-32-bytes!"
STREAM = "s:\n  input: {http_server: {path: /in}}\n  output: {drop: {}}\n"


def scope(headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b"", method: str = "GET",
          path: bytes = b"/t/in") -> dict[str, Any]:
    return {"type": "http", "method": method, "headers": headers or [], "query_string": query, "raw_path": path,
            "path": path.decode()}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- places -------------------------------------------------------------------------------------------------

def test_tyk_places_replace_the_default_header_of_http_schemes_and_add_to_api_keys() -> None:
    assert tyk_places(AUTHORIZATION, {}, openapi=False) == (("header", "Authorization"),)
    assert tyk_places(AUTHORIZATION, {"header": {"enabled": True, "name": "X-Jwt"},
                                      "query": {"enabled": True, "name": "token"}}, openapi=False) == \
        (("header", "X-Jwt"), ("query", "token"))
    assert tyk_places(AUTHORIZATION, {"header": {"enabled": False}, "cookie": {"enabled": True, "name": "c"}},
                      openapi=False) == (("cookie", "c"),)
    # apiKey: the OpenAPI place always stays first; Tyk's enabled places follow (named as OpenAPI if unnamed).
    assert tyk_places(("header", "X-Key"), {"header": {"enabled": False}, "query": {"enabled": True}},
                      openapi=True) == (("header", "X-Key"), ("query", "X-Key"))


def test_a_prefix_is_removed_in_the_authorization_header_only() -> None:
    places = (("header", "Authorization"), ("query", "t"))
    assert credential(scope([(b"authorization", b"Basic  abc ")]), places, "basic") == "abc"
    assert credential(scope([(b"authorization", b"Basic")], b"t=Basic%20x"), places, "basic") == "Basic x"
    assert credential(scope([(b"authorization", b"Bearer")]), places) is None


# -- Basic --------------------------------------------------------------------------------------------------

def test_basic_credentials_parse_only_when_well_formed() -> None:
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    assert parse_basic(encode(b"ann:p:w d")) == ("ann", "p:w d")
    assert parse_basic(encode("jürgen:pässword".encode())) == ("jürgen", "pässword")
    assert parse_basic(encode(b"ann:")) == ("ann", "")
    for bad in (encode(b"no-colon"), encode(b":pw"), "not base64!", encode(b"\xff\xfe:x"), "", "YW5uOnB3\n=="):
        assert parse_basic(bad) is None, bad


@given(st.text(max_size=200))
def test_basic_parser_never_raises(value: str) -> None:
    outcome = parse_basic(value)
    assert outcome is None or (isinstance(outcome, tuple) and outcome[0] and ":" not in outcome[0])


# -- HMAC signatures ----------------------------------------------------------------------------------------

def test_signature_parameters_parse_and_report_what_is_wrong() -> None:
    sig = base64.b64encode(b"\x01" * 32).decode()
    parsed = parse_signature(f'keyId="k1",algorithm="HMAC-SHA256",headers="(request-target) Date",'
                             f'signature="{sig.replace("=", "%3D")}"')
    assert parsed == SignatureParams("k1", "hmac-sha256", ("(request-target)", "date"), b"\x01" * 32)
    assert parse_signature(f'keyId="k",algorithm="hmac-sha1",signature="{sig}"').headers == ("date",)
    assert "missing keyId" in parse_signature(f'algorithm="hmac-sha1",signature="{sig}"')
    assert "twice" in parse_signature(f'keyId="a",keyId="b",algorithm="x",signature="{sig}"')
    assert "not base64" in parse_signature('keyId="a",algorithm="x",signature="%%%"')
    assert "expected" in parse_signature("garbage")
    assert "expected" in parse_signature('keyId="a" algorithm="x"')  # no comma between parameters


@given(st.text(max_size=300))
def test_signature_parser_never_raises(value: str) -> None:
    assert isinstance(parse_signature(value), (SignatureParams, str))


def test_the_signing_string_and_the_date_window() -> None:
    headers = [(b"date", b"Tue, 07 Jun 2014 20:51:35 GMT"), (b"x-a", b"1"), (b"X-A", b"2")]
    s = scope(headers, b"q=1", "POST", b"/t/in")
    assert signing_string(s, ("(request-target)", "date", "x-a")) == (
        "(request-target): post /t/in?q=1\ndate: Tue, 07 Jun 2014 20:51:35 GMT\nx-a: 1, 2", "")
    assert signing_string(s, ("date", "digest")) == ("", "digest")
    now = time.time()
    assert date_skew(formatdate(now - 30, usegmt=True), now) == pytest.approx(30, abs=1)
    for bad in (None, "", "yesterday", "Tue, 99 Jun 2014 20:51:35 GMT", "Mon, 01 Jan 99999 00:00:00 GMT"):
        assert date_skew(bad, now) is None


@given(st.text(max_size=80))
def test_the_date_parser_never_raises(value: str) -> None:
    skew = date_skew(value, time.time())
    assert skew is None or skew >= 0


def signed(secret: str, key: str, algorithm: str = "hmac-sha256", date: str | None = None,
           headers: str = "date", digestmod: Any = hashlib.sha256, target: str = "") -> list[tuple[bytes, bytes]]:
    """A Date header and an Authorization: Signature over HEADERS (`date`, `(request-target)`: TARGET)."""
    date = date or formatdate(usegmt=True)
    lines = [f"(request-target): {target}" if name == "(request-target)" else f"{name}: {date}"
             for name in headers.split()]
    digest = hmac.new(secret.encode(), "\n".join(lines).encode(), digestmod).digest()
    value = (f'Signature keyId="{key}",algorithm="{algorithm}",headers="{headers}",'
             f'signature="{base64.b64encode(digest).decode()}"')
    return [(b"date", date.encode()), (b"authorization", value.encode())]


def test_an_hmac_scheme_checks_algorithm_date_key_and_signature() -> None:
    async def main() -> None:
        keys = KeyStore()
        key, session = await keys.create({"hmac_enabled": True})
        plain, _ = await keys.create({})
        secret = keys.hmac_secret(session)
        assert secret and secret not in session.hmac_secret
        scheme = HmacScheme(((AUTHORIZATION),), ("hmac-sha256", "hmac-sha512"), 60_000)

        async def outcome(headers: list[tuple[bytes, bytes]]) -> Identity | Denial:
            return await scheme.authenticate(scope(headers), keys, "t")

        ok = await outcome(signed(secret, key))
        assert isinstance(ok, Identity) and ok.session == session and ok.via == "hmac"
        sha512 = await outcome(signed(secret, key, "hmac-sha512", digestmod=hashlib.sha512))
        assert isinstance(sha512, Identity)
        cases = {
            "not allowed": signed(secret, key, "hmac-sha1", digestmod=hashlib.sha1),
            "more than 60s": signed(secret, key, date=formatdate(time.time() - 120, usegmt=True)),
            "does not match": signed("another secret", key),
            "not a key that signs": signed(secret, plain),
            "must cover the date": signed(secret, key, headers="x-a"),
        }
        for detail, headers in cases.items():
            denial = await outcome(headers)
            assert isinstance(denial, Denial) and denial.status == 401 and detail in denial.detail, (detail, denial)
            assert denial.headers("t") == [(b"www-authenticate", b'Signature realm="t"')]
        huge = await outcome([(b"authorization", b"Signature " + b"a" * 9000)])
        assert isinstance(huge, Denial) and huge.status == 400

    run(main())


# -- JWT ----------------------------------------------------------------------------------------------------

JWT_SCHEME = JwtScheme("jwt", (AUTHORIZATION,), "hmac", SECRET, policy_field="pol",
                       skews=(("iat", 0.0), ("nbf", 0.0), ("exp", 0.0)))


def test_jwt_verification_answers_with_claims_or_a_denial() -> None:
    now = int(time.time())

    def check(claims: dict[str, Any], key: Any = SECRET, alg: str = "HS256", **headers: Any) -> Any:
        return run(JWT_SCHEME.verify(jwt.encode(claims, key, alg, headers=headers or None)))

    assert check({"sub": "ann", "exp": now + 60})["sub"] == "ann"
    assert check({"sub": "ann", "exp": now - 5}).detail == "the JWT has expired"
    assert check({"sub": "ann", "nbf": now + 30}).detail == "the JWT is not valid yet (nbf)"
    assert check({"sub": "ann", "iat": now + 30}).detail == "the JWT was issued in the future (iat)"
    assert check({"sub": "ann", "exp": "soon"}).detail == "the JWT's exp is not a number"
    assert check({"sub": "ann"}, key=b"another secret of at least 32 bytes").detail == \
        "the JWT's signature is not valid"
    assert "not accepted" in check({"sub": "ann"}, key=None, alg="none").detail
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":7}').decode().rstrip("=")
    assert run(JWT_SCHEME.verify(f"{header}.e30.c2ln")).detail == "the JWT presented is malformed"


def test_a_jwt_identity_is_a_virtual_session_with_the_policies_of_its_claim_or_the_defaults() -> None:
    defaults = JwtScheme("jwt", (AUTHORIZATION,), "hmac", SECRET, identity_field="email", policy_field="pol",
                         default_policies=("basic",))

    def identity(claims: dict[str, Any]) -> Any:
        token = jwt.encode(claims, SECRET, "HS256")
        return run(defaults.authenticate(scope([(b"authorization", f"Bearer {token}".encode())]), KeyStore(), "t"))

    one = identity({"sub": "s1", "email": "ann@example.org", "pol": "gold"})
    assert isinstance(one, Identity) and one.virtual and one.session is not None
    assert (one.session.alias, one.session.policies, one.session.access_rights) == ("ann@example.org", ["gold"], {})
    again = identity({"email": "ann@example.org", "pol": ["gold", "silver"]})
    assert again.session.id == one.session.id and again.session.policies == ["gold", "silver"]
    assert identity({"sub": "s2"}).session.alias == "s2"  # Tyk falls back to sub
    assert identity({"sub": "s2", "pol": 5}).session.policies == ["basic"]
    assert "no identity" in identity({"email": ""}).detail


_token_part = st.one_of(st.text(max_size=60), st.binary(max_size=60).map(
    lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(st.one_of(st.text(max_size=200), st.lists(_token_part, min_size=1, max_size=4).map(".".join),
                 st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(), st.none()),
                                 max_size=4).map(lambda h: ".".join([
                                     base64.urlsafe_b64encode(__import__("json").dumps(h).encode()).decode(),
                                     "e30", "c2ln"]))))
def test_jwt_parsing_never_raises(token: str) -> None:
    outcome = run(JWT_SCHEME.verify(token))
    assert isinstance(outcome, (dict, Denial))
    if isinstance(outcome, Denial):
        assert outcome.status == 401


@given(st.binary(max_size=300))
def test_every_scheme_answers_any_authorization_header_with_an_identity_or_a_denial(raw: bytes) -> None:
    keys = KeyStore()
    headers = [(b"authorization", raw), (b"date", raw)]
    for scheme in (BasicScheme("b", (AUTHORIZATION,)), JWT_SCHEME, HmacScheme((AUTHORIZATION,))):
        outcome = run(scheme.authenticate(scope(headers), keys, "t"))
        assert isinstance(outcome, Denial) and outcome.status in (400, 401)


# -- lint of scheme settings --------------------------------------------------------------------------------

def jwt_api(settings_yaml: str, extra_auth: str = "") -> str:
    return api_yaml("/j/", STREAM, api_id="j").replace(
        "  server: {listenPath: {value: '/j/', strip: true}}\n",
        "  server:\n    listenPath: {value: '/j/', strip: true}\n    authentication:\n      enabled: true\n"
        f"      securitySchemes:\n        jwt: {{enabled: true, {settings_yaml}}}\n{extra_auth}") + (
        "components:\n  securitySchemes:\n    jwt: {type: http, scheme: bearer, bearerFormat: JWT}\n"
        "security:\n  - jwt: []\n")


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_api_text(text, "j.yaml")
    return [str(d) for d in exc.value.diagnostics if d.severity == "error"]


def test_jwt_settings_are_linted_where_they_are_written() -> None:
    secret = base64.b64encode(SECRET).decode()
    text = jwt_api(f"source: {secret}, signingMethod: rsa256")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "signingMethod" in t)
    column = text.splitlines()[line - 1].index("signingMethod") + 1
    assert errors_of(text) == [
        f"j.yaml:{line}:{column}: x-tyk-api-gateway.server.authentication.securitySchemes.jwt.signingMethod: 'rsa256' is not "
        "a signing method AsyncGate accepts (hmac, rsa or ecdsa): every request is refused"]
    assert "source: the key to verify tokens with is missing" in errors_of(jwt_api("signingMethod: hmac"))[0]
    assert "not a PEM public key" in errors_of(jwt_api(f"source: {secret}, signingMethod: rsa"))[0]
    assert "not base64" in errors_of(jwt_api("source: '!!', signingMethod: hmac"))[0]
    assert "expected a number of seconds" in errors_of(jwt_api(
        f"source: {secret}, signingMethod: hmac, expiresAtValidationSkew: -1"))[0]
    api = load_api_text(jwt_api(f"source: {secret}, signingMethod: hmac, skipKid: true, "
                                "query: {enabled: true, name: token}"), "j.yaml")
    (scheme,), = api.auth.alternatives
    assert isinstance(scheme, JwtScheme) and scheme.places == (AUTHORIZATION, ("query", "token"))
    warnings = [w.message for w in api.warnings]
    assert any("skipKid: not implemented by AsyncGate; ignored" in w for w in warnings), warnings
    assert any("neither policyFieldName nor defaultPolicies" in w for w in warnings), warnings
    short = load_api_text(jwt_api("source: c2hvcnQ=, signingMethod: hmac, defaultPolicies: [p]"), "j.yaml")
    assert any("shorter than 32 bytes" in w.message for w in short.warnings)
    jwks = load_api_text(jwt_api("source: 'https://issuer.example/jwks.json', signingMethod: rsa, "
                                 "defaultPolicies: [p]"), "j.yaml")
    assert jwks.auth.alternatives[0][0].jwks.url == "https://issuer.example/jwks.json"


def test_hmac_settings_are_linted_and_make_one_more_alternative() -> None:
    hmac_on = "      hmac: {enabled: true, allowedAlgorithms: [hmac-sha256], allowedClockSkew: 5000}\n"
    api = load_api_text(jwt_api(f"source: {base64.b64encode(SECRET).decode()}, signingMethod: hmac, "
                                "defaultPolicies: [p]", hmac_on), "j.yaml")
    assert [type(a[0]).__name__ for a in api.auth.alternatives] == ["JwtScheme", "HmacScheme"]
    assert api.auth.alternatives[1][0] == HmacScheme((AUTHORIZATION,), ("hmac-sha256",), 5000.0)
    bad = jwt_api("source: x", "      hmac: {enabled: true, allowedAlgorithms: [hmac-md5]}\n")
    assert any("hmac.allowedAlgorithms: expected a list of hmac-sha1" in e for e in errors_of(bad))
    lax = load_api_text(api_yaml("/h/", STREAM, api_id="h").replace(
        "  server: {listenPath: {value: '/h/', strip: true}}\n",
        "  server:\n    listenPath: {value: '/h/', strip: true}\n    authentication:\n      enabled: true\n"
        "      hmac: {enabled: true}\n"), "h.yaml")
    assert not lax.auth.closed and lax.auth.alternatives[0][0].skew_ms == 300_000
    assert any("no allowedClockSkew" in w.message for w in lax.warnings)


def test_a_basic_scheme_reads_tyk_places_and_an_http_bearer_without_jwt_stays_closed() -> None:
    text = jwt_api("header: {enabled: true, name: X-Auth}").replace(
        "jwt: {type: http, scheme: bearer, bearerFormat: JWT}", "jwt: {type: http, scheme: basic}")
    (scheme,), = load_api_text(text, "b.yaml").auth.alternatives
    assert scheme == BasicScheme("jwt", (("header", "X-Auth"),))
    assert "no header, query or cookie is enabled" in errors_of(text.replace("enabled: true, name: X-Auth",
                                                                             "enabled: false"))[0]
    opaque = load_api_text(jwt_api("").replace("bearerFormat: JWT", "bearerFormat: opaque"), "o.yaml")
    assert opaque.auth.closed and opaque.auth.unimplemented == ("jwt",)
    assert any("a bearer token that is not a JWT" in w.message for w in opaque.warnings)
