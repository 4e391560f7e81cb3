"""API-key authentication (issue 6) with real clients: keys created through the management API guard the
shared example API; refusals come before any stream or upgrade; keys never appear in answers or logs."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from gateway_adapter import create_app, load_api_text
from gateway_adapter.apis import load_api

from .support import api_yaml, recv, served, sse_events, until, ws_connect

EXAMPLE = Path("/work/shared/examples/post-to-sse-with-key.yaml")
SECRET = "admin-secret-for-auth-tests"
ADMIN = {"authorization": f"Bearer {SECRET}"}
ORDER = {"id": 7, "total": 12.5}

# The shared example, plus a query-string scheme (browsers' WebSockets cannot set headers) and the allowed
# WebSocket origins.
BROWSER_EXTRA = """\
  middleware:
    global:
      cors: {enabled: true, allowedOrigins: ['https://app.example']}
"""


def browser_document() -> str:
    text = EXAMPLE.read_text()
    text = text.replace("    authToken: { type: apiKey, in: header, name: Authorization }\n",
                        "    authToken: { type: apiKey, in: header, name: Authorization }\n"
                        "    queryKey: { type: apiKey, in: query, name: api_key }\n")
    text = text.replace("  - authToken: []\n", "  - authToken: []\n  - queryKey: []\n")
    text = text.replace("securitySchemes: { authToken: { enabled: true } }",
                        "securitySchemes: { authToken: { enabled: true }, queryKey: { enabled: true } }")
    text = text.replace("  upstream:\n", BROWSER_EXTRA + "  upstream:\n")
    assert "queryKey: { enabled: true }" in text and "allowedOrigins" in text
    return text


def dropping_document() -> str:
    """The shared example with an output that takes every message (a POST is answered once it is delivered)."""
    text = EXAMPLE.read_text()
    return text[:text.index("      output:\n")] + "      output: {drop: {}}\n"


def other_api() -> str:
    return api_yaml("/other/", "s:\n  input: {http_server: {path: /publish}}\n  output: {drop: {}}\n",
                    api_id="other")


def app_with(*apis: Any) -> Any:
    return create_app(apis=list(apis), admin_secret=SECRET)


async def new_key(client: httpx.AsyncClient, **fields: Any) -> tuple[str, dict[str, Any]]:
    body = {"alias": "tester", "access_rights": {"orders-feed": {"api_id": "orders-feed"}}, **fields}
    created = await client.post("/_admin/keys", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    answer = created.json()
    key = answer.pop("key")
    assert len(key) >= 40 and "key_hash" not in answer
    return key, answer


def server_logs(caplog: Any) -> str:
    """What the gateway and its server logged (the test's own clients log URLs with query keys)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore",
                                                                                      "websockets")))


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return body


def test_the_shared_example_needs_a_key_in_the_authorization_header(run, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = app_with(load_api(str(EXAMPLE)))

    async def main() -> str:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, session = await new_key(client)
            missing = problem(await client.post("/orders/publish", json=ORDER), 401)
            assert "needs an API key" in missing["detail"]
            wrong = await client.post("/orders/publish", json=ORDER, headers={"authorization": "not-a-key"})
            assert problem(wrong, 401)["detail"] == "the API key presented is not valid"
            assert wrong.headers["www-authenticate"] == 'Bearer realm="orders-feed"'
            garbage = await client.post("/orders/publish", json=ORDER, headers={"authorization": "Bearer"})
            problem(garbage, 401)
            problem(await client.get("/orders/poll"), 401)
            problem(await client.get("/orders/events"), 401)  # SSE refused before the stream starts

            async def publish() -> None:
                raw = await client.post("/orders/publish", json=ORDER, headers={"authorization": key})
                assert raw.status_code == 200, raw.text
                bearer = await client.post("/orders/publish", json={**ORDER, "id": 8},
                                           headers={"authorization": f"Bearer {key}"})
                assert bearer.status_code == 200, bearer.text

            events = await sse_events(client, "/orders/events", 2, on_open=publish,
                                      headers={"authorization": f"Bearer {key}"})
            got = [orjson.loads(e["data"]) for e in events]
            assert got == [{"id": 7, "total": 12.5, "total_cents": 1250},
                           {"id": 8, "total": 12.5, "total_cents": 1250}]

            listing = await client.get("/_admin/keys", headers=ADMIN)
            assert listing.status_code == 200
            (shown,) = listing.json()["keys"]
            assert (shown["id"], shown["alias"]) == (session["id"], "tester")
            one = await client.get(f"/_admin/keys/{session['id']}", headers=ADMIN)
            for text in (listing.text, one.text):
                assert key not in text and "key_hash" not in text
            return key

    key = run(main())
    assert key not in server_logs(caplog)
    assert "created" in server_logs(caplog)  # the creation was logged (by id)


def test_keys_for_another_api_expired_inactive_and_deleted_keys_are_refused(run, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = app_with(load_api_text(dropping_document(), "orders.yaml"), load_api_text(other_api(), "other.yaml"))

    async def main() -> list[str]:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def post(key: str) -> httpx.Response:
                return await client.post("/orders/publish", json=ORDER, headers={"authorization": key})

            foreign, _ = await new_key(client, access_rights={"other": {"api_id": "other"}})
            assert "no access to API orders-feed" in problem(await post(foreign), 403)["detail"]
            expired, _ = await new_key(client, expires=int(time.time()) - 10)
            assert problem(await post(expired), 401)["detail"] == "the API key presented has expired"
            later, _ = await new_key(client, expires=int(time.time()) + 3600)
            assert (await post(later)).status_code == 200
            inactive, _ = await new_key(client, is_inactive=True)
            assert problem(await post(inactive), 403)["detail"] == "the API key presented is inactive"

            key, session = await new_key(client, meta_data={"team": "a"}, tags=["t1"], rate=10, per=1,
                                         quota_max=100, quota_renewal_rate=3600)
            assert (session["rate"], session["per"], session["quota_max"], session["meta_data"]) == \
                (10, 1, 100, {"team": "a"})
            assert (await post(key)).status_code == 200
            url = f"/_admin/keys/{session['id']}"
            changed = await client.put(url, json={"alias": "tester", "is_inactive": True,
                                                  "access_rights": {"orders-feed": {}}}, headers=ADMIN)
            assert changed.status_code == 200 and changed.json()["is_inactive"] is True
            assert key not in changed.text
            problem(await post(key), 403)
            await client.put(url, json={"access_rights": {"orders-feed": {}}}, headers=ADMIN)
            assert (await post(key)).status_code == 200
            assert (await client.delete(url, headers=ADMIN)).status_code == 204
            problem(await post(key), 401)
            problem(await client.get(url, headers=ADMIN), 404)
            problem(await client.delete(url, headers=ADMIN), 404)

            bad = await client.post("/_admin/keys", json={"expires": "tomorrow"}, headers=ADMIN)
            assert "expires: expected int" in problem(bad, 400)["detail"]
            unknown = await client.post("/_admin/keys", json={"alais": "x"}, headers=ADMIN)
            assert "alais" in problem(unknown, 400)["detail"]
            problem(await client.post("/_admin/keys", content=b"{", headers=ADMIN), 400)
            problem(await client.post("/_admin/keys", json={}), 401)  # the management API needs the secret
            return [foreign, expired, later, inactive, key]

    keys = run(main())
    for key in keys:
        assert key not in server_logs(caplog)


def test_websocket_subscribers_with_a_query_key_and_the_origin_check(run, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    api = load_api_text(browser_document(), "browser.yaml")
    assert api.auth.origins == ("https://app.example",)
    assert not [w for w in api.warnings if "cors" in w.message or "authentication" in w.message]
    app = app_with(api)
    gateway = app.state.gateway

    def ws_clients() -> int:
        return sum(c["stats"].get("clients_by_kind", {}).get("ws", 0)
                   for i in gateway.instances() for c in i["components"])

    async def main() -> str:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, _ = await new_key(client)
            base = f"ws://{host}/orders/subscribe"
            with pytest.raises(InvalidStatus) as without:
                await ws_connect(base, origin="https://app.example")
            assert without.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as wrong:
                await ws_connect(f"{base}?api_key=nope", origin="https://app.example")
            assert wrong.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as evil:  # cross-site WebSocket hijacking: refused before upgrade
                await ws_connect(f"{base}?api_key={key}", origin="https://evil.example")
            assert evil.value.response.status_code == 403
            assert ws_clients() == 0

            ws = await ws_connect(f"{base}?api_key={key}", origin="https://app.example")
            try:
                await until(lambda: ws_clients() == 1)
                posted = await client.post("/orders/publish", json=ORDER, headers={"authorization": key})
                assert posted.status_code == 200
                assert orjson.loads(await recv(ws)) == {"id": 7, "total": 12.5, "total_cents": 1250}
                # The query key works for plain HTTP too.
                by_query = await client.post(f"/orders/publish?api_key={key}", json={"id": 9, "total": 1})
                assert by_query.status_code == 200
                assert orjson.loads(await recv(ws)) == {"id": 9, "total": 1, "total_cents": 100}
            finally:
                await ws.close()
            # A client without Origin (not a browser) is not subject to the Origin check, only to the key.
            plain = await ws_connect(f"{base}?api_key={key}")
            await plain.close()
            return key

    key = run(main())
    assert key not in server_logs(caplog)


def test_websocket_publishers_are_authenticated_before_the_upgrade(run) -> None:
    app = app_with(load_api(str(EXAMPLE)))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, _ = await new_key(client)
            with pytest.raises(InvalidStatus) as refused:
                await ws_connect(f"ws://{host}/orders/publish/ws")
            assert refused.value.response.status_code == 401
            ws = await ws_connect(f"ws://{host}/orders/subscribe", additional_headers={"authorization": key})
            publisher = await ws_connect(f"ws://{host}/orders/publish/ws",
                                         additional_headers={"authorization": f"Bearer {key}"})
            try:
                await until(lambda: all(i["state"] == "running" for i in app.state.gateway.instances()))
                await publisher.send(orjson.dumps(ORDER).decode())
                assert orjson.loads(await recv(ws)) == {"id": 7, "total": 12.5, "total_cents": 1250}
            finally:
                await asyncio.gather(ws.close(), publisher.close())

    run(main())


def test_where_an_api_key_scheme_finds_the_key() -> None:
    from gateway_adapter.auth.api_key import ApiKeyScheme

    def scope(headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b"") -> dict[str, Any]:
        return {"type": "http", "headers": headers or [], "query_string": query}

    auth = ApiKeyScheme("a", (("header", "Authorization"),))
    assert auth.credential(scope([(b"authorization", b"k1")])) == "k1"
    assert auth.credential(scope([(b"Authorization", b"bearer  k2 ")])) == "k2"
    assert auth.credential(scope([(b"authorization", b"Bearer")])) is None
    assert auth.credential(scope()) is None
    other = ApiKeyScheme("b", (("header", "X-Key"), ("query", "key"), ("cookie", "sid")))
    assert other.credential(scope([(b"x-key", b"Bearer k3")])) == "Bearer k3"  # only Authorization strips it
    assert other.credential(scope(query=b"a=1&key=k4")) == "k4"
    assert other.credential(scope([(b"cookie", b"theme=dark; sid=k5")])) == "k5"
    assert other.credential(scope([(b"cookie", b'bad"cookie')], b"key=")) is None


def test_key_hashes_stay_hmac_sha256_hex_so_stored_keys_keep_working() -> None:
    import hashlib
    import hmac

    from gateway_adapter.keys import KeyHasher

    for key in ("abc", "k" * 300, "é-ü"):
        expected = hmac.new(b"the salt", key.encode(), hashlib.sha256).hexdigest()
        assert KeyHasher(b"the salt")(key) == KeyHasher("the salt")(key) == expected
