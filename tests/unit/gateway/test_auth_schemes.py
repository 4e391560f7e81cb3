"""JWT, HTTP Basic and HMAC signatures with real clients (httpx, websockets) through a served gateway; JWKS
from a real HTTP server on 127.0.0.1. Refusals come before any stream or upgrade, as clean problems; no
token, password, signature or secret reaches the logs."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from email.utils import formatdate
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.exceptions import InvalidStatus

from gateway_adapter import create_app, load_api_text
from gateway_adapter.auth.jwks import Jwks
from gateway_adapter.policies import policy_fields

from .support import api_yaml, free_port, served, ws_connect
from .test_auth_keys import ADMIN, SECRET, problem, server_logs
from .test_auth_parsers import signed

STREAM = "s:\n  input: {http_server: {path: /in, ws_path: /ws}}\n  output: {drop: {}}\n"
HMAC_SECRET = b"the-api-s-jwt-secret-" + b"x" * 43  # 64 bytes: long enough for HS512


def auth_api(api_id: str, schemes: str, tyk: str, security: str, extra_auth: str = "") -> str:
    """An API at /API_ID/ whose POST /in and WebSocket /ws need SECURITY (components SCHEMES, Tyk settings TYK)."""
    listen = f"/{api_id}/"
    return api_yaml(listen, STREAM, api_id=api_id).replace(
        f"  server: {{listenPath: {{value: '{listen}', strip: true}}}}\n",
        f"  server:\n    listenPath: {{value: '{listen}', strip: true}}\n    authentication:\n      enabled: true\n"
        f"      securitySchemes: {{{tyk}}}\n{extra_auth}") + (
        f"components:\n  securitySchemes: {{{schemes}}}\nsecurity: {security}\n")


def jwt_api(api_id: str, source: str, method: str, **settings: Any) -> Any:
    extra = "".join(f", {k}: {v}" for k, v in settings.items())
    return load_api_text(auth_api(api_id, "jwt: {type: http, scheme: bearer, bearerFormat: JWT}",
                                  f"jwt: {{enabled: true, source: '{source}', signingMethod: {method}, "
                                  f"policyFieldName: pol{extra}}}", "[{jwt: []}]"), f"{api_id}.yaml")


def pem(private: Any) -> str:
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(public).decode()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def grant(app: Any, policy_id: str, *api_ids: str) -> None:
    """Policy POLICY_ID giving access to API_IDS, in APP's gateway (as POST /_admin/policies would)."""
    rights = {api_id: {"api_id": api_id} for api_id in api_ids}
    assert await app.state.gateway.policies.create(policy_fields({"access_rights": rights}), policy_id)


def test_jwt_with_rsa_and_ec_keys_skews_and_refused_algorithms(run, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    app = create_app(apis=[
        jwt_api("r", pem(rsa_key), "rsa", expiresAtValidationSkew=30, notBeforeValidationSkew=30),
        jwt_api("e", pem(ec_key), "ecdsa", defaultPolicies="[fallback]", issuedAtValidationSkew=30),
    ], admin_secret=SECRET)
    now = int(time.time())
    tokens: list[str] = []

    def token(claims: dict[str, Any], key: Any, alg: str) -> str:
        tokens.append(jwt.encode({"sub": "ann", **claims}, key, alg))
        return tokens[-1]

    async def main() -> None:
        await grant(app, "gold", "e")  # not r
        await grant(app, "fallback")  # nothing
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def post(path: str, value: str | None) -> httpx.Response:
                return await client.post(path, json={}, headers=bearer(value) if value is not None else {})

            missing = await post("/r/in", None)
            assert "needs a JWT" in problem(missing, 401)["detail"]
            assert missing.headers["www-authenticate"] == 'Bearer realm="r"'
            # Authenticated: the token is valid; its policy gives access to another API only.
            valid = await post("/r/in", token({"pol": "gold", "exp": now + 60}, rsa_key, "RS256"))
            assert problem(valid, 403)["detail"] == "the JWT presented has no access to API r through its policies"
            within = await post("/r/in", token({"pol": "gold", "exp": now - 10, "nbf": now + 10}, rsa_key, "RS384"))
            assert problem(within, 403)["detail"].startswith("the JWT presented has no access")
            no_policy = await post("/r/in", token({}, rsa_key, "RS256"))
            assert "names no policy" in problem(no_policy, 403)["detail"]
            refused = {
                "the JWT has expired": token({"exp": now - 60}, rsa_key, "RS256"),
                "the JWT is not valid yet (nbf)": token({"nbf": now + 60}, rsa_key, "RS256"),
                "the JWT's signature is not valid": token({}, rsa.generate_private_key(65537, 2048), "RS256"),
                'the JWT\'s algorithm "none" is not accepted (the API accepts RS256, RS384, RS512)':
                    token({}, None, "none"),
                'the JWT\'s algorithm "ES256" is not accepted (the API accepts RS256, RS384, RS512)':
                    token({}, ec_key, "ES256"),
                # The public key used as an HMAC secret (algorithm confusion) is not even tried.
                'the JWT\'s algorithm "HS256" is not accepted (the API accepts RS256, RS384, RS512)':
                    jwt.api_jws.PyJWS().encode(b'{"sub":"ann"}', b"not-the-key-and-never-checked-by-the-gateway", "HS256"),
                "the JWT names no algorithm (alg)": "e30.e30.e30",
                "the JWT presented is malformed": "garbage",
            }
            for detail, value in refused.items():
                response = await post("/r/in", value)
                assert problem(response, 401)["detail"] == detail, (detail, response.text)

            ec_ok = await post("/e/in", token({"iat": now + 10}, ec_key, "ES256"))
            assert "through its policies" in problem(ec_ok, 403)["detail"]  # defaultPolicies: [fallback]
            gold = await post("/e/in", token({"iat": now + 10, "pol": "gold"}, ec_key, "ES256"))
            assert gold.status_code == 200, gold.text
            unknown = await post("/e/in", token({"pol": "platinum"}, ec_key, "ES256"))
            assert 'policy "platinum" does not exist' in problem(unknown, 403)["detail"]
            ec_future = await post("/e/in", token({"iat": now + 60}, ec_key, "ES256"))
            assert problem(ec_future, 401)["detail"] == "the JWT was issued in the future (iat)"
            ec_other = await post("/e/in", token({}, ec.generate_private_key(ec.SECP256R1()), "ES256"))
            assert problem(ec_other, 401)["detail"] == "the JWT's signature is not valid"

    run(main(), timeout=30)
    logs = server_logs(caplog)
    assert tokens and not any(part in logs for t in tokens for part in (t, t.split(".")[2]) if part)


def test_a_websocket_upgrade_with_a_jwt_in_the_header_or_the_query_string(run) -> None:
    secret = base64.b64encode(HMAC_SECRET).decode()
    app = create_app(apis=[jwt_api("w", secret, "hmac", query="{enabled: true, name: token}")],
                     admin_secret=SECRET)
    good = jwt.encode({"sub": "ann", "pol": ["streams"]}, HMAC_SECRET, "HS256")
    gold = jwt.encode({"sub": "ann", "pol": "gold"}, HMAC_SECRET, "HS512")
    expired = jwt.encode({"sub": "ann", "pol": "streams", "exp": int(time.time()) - 5}, HMAC_SECRET, "HS256")

    async def main() -> None:
        await grant(app, "streams", "w")
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            base = f"ws://{host}/w/ws"
            for url, headers, status in ((base, {}, 401), (f"{base}?token={expired}", {}, 401),
                                         (base, bearer("not.a.jwt"), 401), (base, bearer(gold), 403),
                                         (base, {"authorization": "\x01garbage"}, 401)):
                with pytest.raises(InvalidStatus) as refused:
                    await ws_connect(url, additional_headers=headers)
                assert refused.value.response.status_code == status, (url, headers)
            for url, headers in ((base, bearer(good)), (f"{base}?token={good}", {})):
                ws = await ws_connect(url, additional_headers=headers)
                await ws.send("{}")
                await ws.close()
            posted = await client.post(f"/w/in?token={good}", json={})
            assert posted.status_code == 200, posted.text

    run(main(), timeout=30)


def test_jwks_is_fetched_cached_refetched_for_a_new_kid_and_refuses_when_unreachable(
        run, monkeypatch) -> None:
    monkeypatch.setattr(Jwks, "MIN_INTERVAL", 0.0)
    first, second = (rsa.generate_private_key(65537, 2048) for _ in range(2))
    published = [first]
    fetches: list[float] = []

    def jwk(private: Any, kid: str) -> dict[str, Any]:
        return {**jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": kid, "use": "sig"}

    async def jwks(request: Any) -> JSONResponse:
        fetches.append(time.monotonic())
        return JSONResponse({"keys": [jwk(k, f"k{[first, second].index(k) + 1}") for k in published]})

    issuer = Starlette(routes=[Route("/jwks.json", jwks)])
    dead = free_port()

    async def main() -> None:
        async with served(issuer) as issuer_host:
            app = create_app(apis=[
                jwt_api("k", f"http://{issuer_host}/jwks.json", "rsa"),
                jwt_api("d", base64.b64encode(f"http://127.0.0.1:{dead}/jwks.json".encode()).decode(), "rsa"),
            ], admin_secret=SECRET)
            await grant(app, "streams", "k", "d")
            async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client:
                def token(private: Any, kid: str) -> dict[str, str]:
                    return bearer(jwt.encode({"sub": "ann", "pol": "streams"}, private, "RS256",
                                             headers={"kid": kid}))

                assert (await client.post("/k/in", json={}, headers=token(first, "k1"))).status_code == 200
                assert (await client.post("/k/in", json={}, headers=token(first, "k1"))).status_code == 200
                assert len(fetches) == 1  # cached
                published.append(second)  # the issuer rotates in a new key: its kid makes the gateway look again
                assert (await client.post("/k/in", json={}, headers=token(second, "k2"))).status_code == 200
                assert len(fetches) == 2
                unknown = await client.post("/k/in", json={}, headers=token(second, "k9"))
                assert problem(unknown, 401)["detail"] == "the JWT's key (kid) is not in the JWKS"
                monkeypatch.setattr(Jwks, "MIN_INTERVAL", 60.0)  # made-up kids do not make it fetch again
                for _ in range(3):
                    problem(await client.post("/k/in", json={}, headers=token(second, "k8")), 401)
                assert len(fetches) == 3
                forged = await client.post("/k/in", json={}, headers=token(second, "k1"))  # k1's kid, k2's key
                assert problem(forged, 401)["detail"] == "the JWT's signature is not valid"
                down = await client.post("/d/in", json={}, headers=token(first, "k1"))
                assert f"the JWKS at http://127.0.0.1:{dead}/jwks.json cannot be fetched" in problem(down, 401)["detail"]

    run(main(), timeout=30)


def basic(username: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_http_basic_against_keys_with_basic_auth_data(run, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(apis=[load_api_text(auth_api("b", "pw: {type: http, scheme: basic}", "pw: {enabled: true}",
                                                  "[{pw: []}]"), "b.yaml")], admin_secret=SECRET)
    rights = {"b": {"api_id": "b"}}

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client:
            created = await client.post("/_admin/keys", headers=ADMIN, json={
                "alias": "ann", "access_rights": rights,
                "basic_auth_data": {"username": "ann", "password": "correct horse"}})
            assert created.status_code == 201, created.text
            assert created.json()["basic_auth_data"] == {"username": "ann"}
            key_id = created.json()["id"]
            shown = await client.get(f"/_admin/keys/{key_id}", headers=ADMIN)
            listing = await client.get("/_admin/keys", headers=ADMIN)
            for text in (created.text, shown.text, listing.text):
                assert "correct horse" not in text and "password" not in text and "argon2" not in text
            taken = await client.post("/_admin/keys", headers=ADMIN, json={
                "basic_auth_data": {"username": "ann", "password": "x"}})
            assert 'another key has the username "ann"' in problem(taken, 409)["detail"]
            no_password = await client.post("/_admin/keys", headers=ADMIN, json={
                "basic_auth_data": {"username": "bob"}})
            assert "basic_auth_data.password: required" in problem(no_password, 400)["detail"]
            colon = await client.post("/_admin/keys", headers=ADMIN, json={
                "basic_auth_data": {"username": "a:b", "password": "x"}})
            assert "without ':'" in problem(colon, 400)["detail"]

            for _ in range(2):  # the second time from the verified cache
                assert (await client.post("/b/in", json={}, headers=basic("ann", "correct horse"))).status_code == 200
            wrong = await client.post("/b/in", json={}, headers=basic("ann", "battery staple"))
            assert problem(wrong, 401)["detail"] == "the username or password presented is not valid"
            assert wrong.headers["www-authenticate"] == 'Basic realm="b"'
            problem(await client.post("/b/in", json={}, headers=basic("nobody", "correct horse")), 401)
            missing = await client.post("/b/in", json={})
            assert "needs a username and password" in problem(missing, 401)["detail"]
            malformed = await client.post("/b/in", json={}, headers={"authorization": "Basic %%%"})
            assert "malformed" in problem(malformed, 401)["detail"]

            # A new password replaces the old one; keeping the username without a password keeps it.
            changed = await client.put(f"/_admin/keys/{key_id}", headers=ADMIN, json={
                "access_rights": rights, "basic_auth_data": {"username": "ann", "password": "new secret"}})
            assert changed.status_code == 200, changed.text
            problem(await client.post("/b/in", json={}, headers=basic("ann", "correct horse")), 401)
            assert (await client.post("/b/in", json={}, headers=basic("ann", "new secret"))).status_code == 200
            renamed = await client.put(f"/_admin/keys/{key_id}", headers=ADMIN, json={
                "access_rights": {}, "basic_auth_data": {"username": "anna"}})
            assert renamed.status_code == 200, renamed.text
            no_access = await client.post("/b/in", json={}, headers=basic("anna", "new secret"))
            assert "no access to API b" in problem(no_access, 403)["detail"]
            problem(await client.post("/b/in", json={}, headers=basic("ann", "new secret")), 401)

    run(main(), timeout=30)
    logs = server_logs(caplog)
    for secret in ("correct horse", "battery staple", "new secret", base64.b64encode(b"ann:new secret").decode()):
        assert secret not in logs


def test_hmac_signed_requests(run, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    api = load_api_text(auth_api("h", "key: {type: apiKey, in: header, name: X-Key}", "key: {enabled: true}",
                                 "[{key: []}]", "      hmac: {enabled: true, allowedAlgorithms: [hmac-sha256, "
                                                "hmac-sha512], allowedClockSkew: 30000}\n"), "h.yaml")
    app = create_app(apis=[api], admin_secret=SECRET)
    said: list[str] = []

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=10) as client:
            created = await client.post("/_admin/keys", headers=ADMIN, json={
                "hmac_enabled": True, "access_rights": {"h": {}}})
            assert created.status_code == 201
            key, secret = created.json()["key"], created.json()["hmac_string"]
            said.extend([key, secret])
            shown = await client.get(f"/_admin/keys/{created.json()['id']}", headers=ADMIN)
            assert shown.json()["hmac_enabled"] is True and secret not in shown.text and "hmac_s" not in shown.text

            async def post(headers: list[tuple[bytes, bytes]], path: str = "/h/in") -> httpx.Response:
                said.append(headers[-1][1].decode())
                return await client.post(path, json={}, headers=headers)

            assert (await post(signed(secret, key))).status_code == 200
            target = signed(secret, key, "hmac-sha512", headers="(request-target) date",
                            digestmod=hashlib.sha512, target="post /h/in?x=1")
            assert (await post(target, "/h/in?x=1")).status_code == 200
            retargeted = await post(target, "/h/in?x=2")  # the signature covers the path and query
            assert problem(retargeted, 401)["detail"] == "the Signature presented does not match the request"
            stale = await post(signed(secret, key, date=formatdate(time.time() - 60, usegmt=True)))
            assert "more than 30s from the gateway's clock" in problem(stale, 401)["detail"]
            assert stale.headers["www-authenticate"] == 'Signature realm="h"'
            sha1 = await post(signed(secret, key, "hmac-sha1", digestmod=hashlib.sha1))
            assert 'algorithm "hmac-sha1" is not allowed' in problem(sha1, 401)["detail"]
            forged = await post(signed("guessed", key))
            assert problem(forged, 401)["detail"] == "the Signature presented does not match the request"
            # The key alone (it travels in clear as the keyId) is not accepted by the apiKey scheme.
            alone = await client.post("/h/in", json={}, headers={"x-key": key})
            assert "signs its requests" in problem(alone, 401)["detail"]

    run(main(), timeout=30)
    logs = server_logs(caplog)
    assert said and not any(s in logs for s in said)


def test_garbage_and_oversized_credentials_get_clean_problems(run) -> None:
    secret = base64.b64encode(HMAC_SECRET).decode()
    app = create_app(apis=[jwt_api("g", secret, "hmac"), load_api_text(auth_api(
        "x", "pw: {type: http, scheme: basic}", "pw: {enabled: true}", "[{pw: []}]",
        "      hmac: {enabled: true, allowedClockSkew: 1000}\n"), "x.yaml")], admin_secret=SECRET)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            for path in ("/g/in", "/x/in"):
                for value in (b"Bearer \xff\xfe", b"Basic \xc3\xa9==", b"Signature keyId=", b"Bearer a.b.c.d",
                              b'Signature keyId="k",algorithm="hmac-sha256",signature="%%%"', b"Basic =",
                              b"Bearer eyJhbGciOiJub25lIn0.e30.", b"x y z", b"Digest x"):
                    response = await client.post(path, json={}, headers=[(b"authorization", value)])
                    body = problem(response, 401)
                    assert body["title"] == "Unauthorized" and "Traceback" not in response.text
                huge = await client.post(path, json={}, headers={"authorization": "Bearer " + "a" * 9000})
                assert "larger than 8192 bytes" in problem(huge, 400)["detail"]
            with pytest.raises(InvalidStatus) as refused:
                await ws_connect(f"ws://{host}/x/ws", additional_headers={"authorization": "Basic ~~~"})
            assert refused.value.response.status_code == 401

    run(main(), timeout=30)
