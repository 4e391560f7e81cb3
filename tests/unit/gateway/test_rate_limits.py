"""Rate limits and quotas (issue 6) with real clients: the API's limit, a key's own smaller limit, a key's quota,
WebSocket upgrades over the limit. The limiters themselves (the exact sliding window, quotas) are tested on
every storage by storage_contract.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from gateway_adapter import load_api_text

from .support import api_yaml, served, ws_connect
from .test_auth_keys import ADMIN, ORDER, app_with, dropping_document, new_key, problem


LIMITED = "  upstream:\n    rateLimit: {enabled: true, requests: 5, per: 1s}\n"
SINK = "s:\n  input: {http_server: {path: /in, ws_path: /ws}}\n  output: {drop: {}}\n"


def test_an_api_limit_of_5_per_second_passes_exactly_5_of_8_then_lets_requests_in_again(run) -> None:
    api = load_api_text(api_yaml("/lim/", SINK, api_id="lim", extra=LIMITED), "lim.yaml")
    assert api.rate_limit == (5, 1.0) and not api.warnings
    app = app_with(api)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            answers = await asyncio.gather(*(client.post("/lim/in", json={"n": n}) for n in range(8)))
            statuses = sorted(r.status_code for r in answers)
            assert statuses == [200] * 5 + [429] * 3, [r.text for r in answers]
            waits = []
            for refused in (r for r in answers if r.status_code == 429):
                body = problem(refused, 429)
                assert body["title"] == "Too Many Requests" and "API lim" in body["detail"]
                waits.append(int(refused.headers["retry-after"]))
            assert all(1 <= w <= 1 for w in waits)  # whole seconds, rounded up: the window is one second
            await asyncio.sleep(max(waits))  # as the client was told (bounded: at most the 1 s window)
            again = await asyncio.gather(*(client.post("/lim/in", json={"n": n}) for n in range(6)))
            assert sorted(r.status_code for r in again) == [200] * 5 + [429]

    run(main(), timeout=20)


def test_bad_rate_limit_settings_are_errors() -> None:
    from engine.errors import ConfigError

    bad = LIMITED.replace("requests: 5", "requests: 0").replace("per: 1s", "per: soon")
    with pytest.raises(ConfigError) as exc:
        load_api_text(api_yaml("/lim/", SINK, api_id="lim", extra=bad), "lim.yaml")
    assert "soon" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_api_text(api_yaml("/lim/", SINK, api_id="lim", extra=bad.replace("per: soon", "per: 1s")), "lim.yaml")
    assert "requests: must be at least 1" in str(exc.value)
    off = LIMITED.replace("enabled: true", "enabled: false").replace("per: 1s", "per: 0")
    assert load_api_text(api_yaml("/lim/", SINK, api_id="lim", extra=off), "lim.yaml").rate_limit is None


def test_a_key_limit_smaller_than_the_apis_applies_to_that_key_only(run) -> None:
    api = load_api_text(dropping_document(), "orders.yaml")
    assert api.rate_limit == (100, 1.0)  # the shared example's API limit
    app = app_with(api)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def post(key: str | None) -> httpx.Response:
                headers = {"authorization": key} if key else {}
                return await client.post("/orders/publish", json=ORDER, headers=headers)

            # Requests refused by authentication do not count.
            for _ in range(4):
                problem(await post(None), 401)
            slow, _ = await new_key(client, rate=2, per=60)
            free, _ = await new_key(client)
            assert [(await post(slow)).status_code for _ in range(2)] == [200, 200]
            refused = await post(slow)
            assert "this API key" in problem(refused, 429)["detail"]
            assert 59 <= int(refused.headers["retry-after"]) <= 60
            assert [(await post(free)).status_code for _ in range(6)] == [200] * 6

    run(main(), timeout=20)


def test_a_quota_of_3_refuses_the_fourth_request_with_403(run) -> None:
    app = app_with(load_api_text(dropping_document(), "orders.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, _ = await new_key(client, quota_max=3, quota_renewal_rate=3600)
            unlimited, _ = await new_key(client, quota_max=-1, quota_renewal_rate=3600)
            headers = {"authorization": key}
            got = [(await client.post("/orders/publish", json=ORDER, headers=headers)).status_code
                   for _ in range(3)]
            assert got == [200, 200, 200]
            fourth = await client.post("/orders/publish", json=ORDER, headers=headers)
            assert "quota exceeded" in problem(fourth, 403)["detail"]
            for _ in range(5):
                ok = await client.post("/orders/publish", json=ORDER, headers={"authorization": unlimited})
                assert ok.status_code == 200

    run(main(), timeout=20)


def test_a_websocket_upgrade_over_the_limit_is_refused_before_the_upgrade(run) -> None:
    app = app_with(load_api_text(dropping_document(), "orders.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, _ = await new_key(client, rate=1, per=60)
            first = await ws_connect(f"ws://{host}/orders/publish/ws", additional_headers={"authorization": key})
            try:
                with pytest.raises(InvalidStatus) as refused:
                    await ws_connect(f"ws://{host}/orders/publish/ws", additional_headers={"authorization": key})
                response = refused.value.response
                assert response.status_code == 429
                assert 59 <= int(response.headers["retry-after"]) <= 60
                assert b"rate limit" in response.body
            finally:
                await first.close()
            listing = await client.get("/_admin/keys", headers=ADMIN)
            assert key not in listing.text

    run(main(), timeout=20)


def test_requests_refused_by_authentication_do_not_count(run) -> None:
    document = dropping_document().replace("requests: 100, per: 1s", "requests: 2, per: 60s")
    api = load_api_text(document, "orders.yaml")
    assert api.rate_limit == (2, 60.0)
    app = app_with(api)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            key, _ = await new_key(client)
            for wrong in (None, "not-a-key", "Bearer nope"):
                headers = {"authorization": wrong} if wrong else {}
                problem(await client.post("/orders/publish", json=ORDER, headers=headers), 401)
            got = [(await client.post("/orders/publish", json=ORDER, headers={"authorization": key})).status_code
                   for _ in range(3)]
            assert got == [200, 200, 429]

    run(main(), timeout=20)


def test_without_the_denial_extension_a_websocket_over_the_limit_is_closed_with_1008(run) -> None:
    """Servers that cannot send a denial response: the handshake is refused with close code 1008 and a reason."""
    import logging

    from engine.runtime.inproc import InprocHub
    from gateway_adapter.api_runtime import ApiRuntime
    from gateway_adapter.config import GatewayConfig

    api = load_api_text(api_yaml("/lim/", SINK, api_id="lim", extra=LIMITED.replace("requests: 5", "requests: 1")),
                        "lim.yaml")
    runtime = ApiRuntime(api, GatewayConfig(), InprocHub(), logging.getLogger("test"))

    async def attempt() -> list[dict]:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "websocket.connect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "websocket", "path": "/lim/ws", "headers": [], "query_string": b"", "extensions": {}}
        passed = await runtime._within_limits(scope, receive, send, None)
        return sent if not passed else [{"type": "passed"}]

    async def main() -> None:
        assert await attempt() == [{"type": "passed"}]
        (closed,) = await attempt()
        assert (closed["type"], closed["code"]) == ("websocket.close", 1008)
        assert "rate limit of API lim exceeded" in closed["reason"]

    run(main())
