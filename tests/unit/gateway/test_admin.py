"""The management API (/_admin) with a real server and clients: auth, live CRUD of APIs, streams status."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from gateway_adapter import create_app, load_api_text

from .support import api_yaml, recv, served, until, ws_connect

SECRET = "s3cret-token-for-tests"
AUTH = {"authorization": f"Bearer {SECRET}"}

ECHO = """
echo:
  input: {http_server: {path: /echo, ws_path: ""}}
  pipeline: {processors: [{mapping: 'root = "%s:" + content().string()'}]}
  output: {sync_response: {}}
feed:
  input: {http_server: {path: /publish, ws_path: ""}}
  output: {http_server: {ws_path: /ws, path: "", stream_path: "", fan_out: broadcast}}
"""


def base_app(**kw: object) -> object:
    return create_app(apis=[load_api_text(api_yaml("/a/", ECHO % "a", api_id="a"), "a.yaml")], **kw)


def test_the_management_api_is_disabled_without_a_secret(run, monkeypatch) -> None:
    monkeypatch.delenv("ASYNCGATE_ADMIN_SECRET", raising=False)
    app = base_app()

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            response = await client.get("/_admin/apis", headers=AUTH)
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"

    run(main())


def test_bearer_secret_is_required_and_never_logged(run, monkeypatch, caplog) -> None:
    monkeypatch.setenv("ASYNCGATE_ADMIN_SECRET", SECRET)
    app = base_app()

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            missing = await client.get("/_admin/apis")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            assert missing.json()["title"] == "Unauthorized"
            basic = await client.get("/_admin/apis", headers={"authorization": "Basic czNjcmV0"})
            assert basic.status_code == 401
            wrong = await client.get("/_admin/apis", headers={"authorization": "Bearer not-the-secret"})
            assert wrong.status_code == 403
            assert wrong.headers["content-type"] == "application/problem+json"
            ok = await client.get("/_admin/apis", headers=AUTH)
            assert ok.status_code == 200
            (api,) = ok.json()["apis"]
            assert api["id"] == "a" and api["listen_path"] == "/a/" and api["streams"] == ["echo", "feed"]
            assert {"kind": "http", "path": "/a/echo", "stream": "echo"} in api["endpoints"]
            with pytest.raises(InvalidStatus) as denied:
                await ws_connect(f"ws://{host}/_admin/apis")
            assert denied.value.response.status_code == 401

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert all(SECRET not in record.getMessage() and "not-the-secret" not in record.getMessage()
               for record in caplog.records)


def test_apis_are_added_replaced_and_removed_live(run, monkeypatch) -> None:
    monkeypatch.setenv("ASYNCGATE_ADMIN_SECRET", SECRET)
    monkeypatch.setenv("ADMIN_TEST_PREFIX", "b")
    app = base_app()
    document = api_yaml("/b/", ECHO % "${ADMIN_TEST_PREFIX}", api_id="b")

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.post("/b/echo", content=b"x")).status_code == 404
            created = await client.post("/_admin/apis", content=document, headers=AUTH)
            assert created.status_code == 201, created.text
            assert created.headers["location"] == "/_admin/apis/b"
            assert created.json()["id"] == "b"
            echoed = await client.post("/b/echo", content=b"x")
            assert (echoed.status_code, echoed.text) == (200, "b:x")  # answers at once
            again = await client.post("/_admin/apis", content=document, headers=AUTH)
            assert again.status_code == 409
            listed = await client.get("/_admin/apis", headers=AUTH)
            assert [a["id"] for a in listed.json()["apis"]] == ["a", "b"]
            shown = await client.get("/_admin/apis/b", headers=AUTH)
            assert shown.status_code == 200
            # The document as written: the environment reference, not its value.
            assert shown.json()["x-tyk-streaming"]["streams"]["echo"]["pipeline"]["processors"][0]["mapping"] == \
                'root = "${ADMIN_TEST_PREFIX}:" + content().string()'

            # Replace it (JSON body this time): subscribers of the old one are closed with 1001.
            ws = await ws_connect(f"ws://{host}/b/ws")
            await until(lambda: any(i["api"] == "b" and i["active_connections"] for i in
                                    app.state.gateway.instances()))
            replacement = orjson.loads(orjson.dumps(__import__("yaml").safe_load(
                api_yaml("/b/", ECHO % "new", api_id="b"))))
            replaced = await client.put("/_admin/apis/b", json=replacement, headers=AUTH)
            assert replaced.status_code == 200, replaced.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd.code == 1001 and closed.value.rcvd.reason == "API replaced"
            assert (await client.post("/b/echo", content=b"y")).text == "new:y"

            ws = await ws_connect(f"ws://{host}/b/ws")
            await until(lambda: any(i["api"] == "b" and i["active_connections"] for i in
                                    app.state.gateway.instances()))
            deleted = await client.delete("/_admin/apis/b", headers=AUTH)
            assert deleted.status_code == 204
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd.code == 1001 and closed.value.rcvd.reason == "API removed"
            gone = await client.post("/b/echo", content=b"z")
            assert gone.status_code == 404 and gone.json()["detail"] == "no API serves /b/echo"
            assert (await client.delete("/_admin/apis/b", headers=AUTH)).status_code == 404
            assert (await client.get("/_admin/apis/b", headers=AUTH)).status_code == 404
            # PUT also creates; the id comes from the URL when the document has none.
            no_id = api_yaml("/c/", ECHO % "c", api_id="c").replace("id: c, ", "")
            created = await client.put("/_admin/apis/cee", content=no_id, headers=AUTH)
            assert created.status_code == 201 and created.json()["id"] == "cee"
            assert (await client.post("/c/echo", content=b"1")).text == "c:1"
            assert (await client.post("/a/echo", content=b"1")).text == "a:1"  # untouched all along

    run(main())


def test_bad_definitions_change_nothing_and_say_why(run, monkeypatch) -> None:
    monkeypatch.setenv("ASYNCGATE_ADMIN_SECRET", SECRET)
    app = base_app()

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def post(body: bytes | str, path: str = "/_admin/apis", method: str = "POST") -> httpx.Response:
                response = await client.request(method, path, content=body, headers=AUTH)
                assert response.headers["content-type"] == "application/problem+json", response.text
                return response

            broken = await post("openapi: 3.0.3\nx-tyk-api-gateway: [\n")
            assert broken.status_code == 400
            (error,) = broken.json()["errors"]
            assert error["line"] == 3 and "invalid YAML" in error["message"]
            typo = api_yaml("/d/", "s:\n  input: {inprok: x}\n  output: {drop: {}}\n", api_id="d")
            located = await post(typo)
            assert located.status_code == 400
            (error,) = located.json()["errors"]
            assert error["text"].startswith("request-body:") and 'unknown input type "inprok"' in error["message"]
            assert 'did you mean "inproc"' in error["message"]
            no_listen = "openapi: 3.0.3\ninfo: {title: x, version: 1}\nx-tyk-api-gateway: {info: {name: x}}\n"
            missing = await post(no_listen)
            assert missing.status_code == 400 and "server" in missing.json()["detail"]
            clash = await post(api_yaml("/a", ECHO % "z", api_id="z"))
            assert clash.status_code == 409 and 'already served by API "a"' in clash.json()["detail"]
            mismatch = await post(api_yaml("/e/", ECHO % "e", api_id="e"), "/_admin/apis/other", "PUT")
            assert mismatch.status_code == 400 and '"e"' in mismatch.json()["detail"]
            assert (await post("")).status_code == 400
            assert (await post(b"\xff\xfe")).status_code == 400
            twice = ECHO % "f" + (ECHO % "g").replace("echo:", "echo2:").replace("feed:", "feed2:")
            unbuildable = await post(api_yaml("/f/", twice, api_id="f"))
            assert unbuildable.status_code == 400 and "both serve the http path /echo" in unbuildable.json()["detail"]
            listed = await client.get("/_admin/apis", headers=AUTH)
            assert [a["id"] for a in listed.json()["apis"]] == ["a"]
            unknown = await client.get("/_admin/nothing", headers=AUTH)
            assert unknown.status_code == 404
            assert (await client.patch("/_admin/apis/a", headers=AUTH)).status_code == 405

    run(main())


def test_streams_lists_instances_with_their_counters(run, monkeypatch) -> None:
    monkeypatch.setenv("ASYNCGATE_ADMIN_SECRET", SECRET)
    app = base_app()

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            ws = await ws_connect(f"ws://{host}/a/ws")
            await until(lambda: any(i["active_connections"] for i in app.state.gateway.instances()))
            for text in (b"1", b"2", b"3"):
                assert (await client.post("/a/publish", content=text)).status_code == 200
                assert await recv(ws) == text
            streams = (await client.get("/_admin/streams", headers=AUTH)).json()["streams"]
            feed = next(s for s in streams if s["stream"] == "feed")
            assert feed["state"] == "running" and feed["api"] == "a" and feed["read_messages"] == 3
            assert feed["active_connections"] == 1
            output = next(c for c in feed["components"] if c["component"].startswith("output"))
            assert output["stats"]["delivered"] == 3 and output["stats"]["clients"] == 1
            assert {"kind": "websocket", "path": "/ws"} == {k: feed["endpoints"][1][k] for k in ("kind", "path")}
            await ws.close()

    run(main())


def test_changes_are_refused_with_several_workers(run, monkeypatch) -> None:
    monkeypatch.setenv("ASYNCGATE_ADMIN_SECRET", SECRET)
    app = base_app(config={"workers": 2})

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            response = await client.delete("/_admin/apis/a", headers=AUTH)
            assert response.status_code == 409 and "worker" in response.json()["detail"]
            assert (await client.get("/_admin/apis", headers=AUTH)).status_code == 200

    run(main())
