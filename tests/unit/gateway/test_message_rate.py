"""Per-subscriber message rates (issue 6, beyond Tyk) with real clients: the API's `x-asyncgate-message-rate`
drops or closes over the rate on WebSocket and SSE subscriptions fed by a `generate` input, a key's or a
policy's `message_rate` overrides it, and the extension is validated with located errors."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from engine.errors import ConfigError
from engine.runtime.message_rate import MessageRate
from gateway_adapter import load_api_text

from .support import api_yaml, recv, served, sse_events, until, ws_connect
from .test_auth_keys import ADMIN, app_with

# Twelve messages numbered 1 to 12 (a counter of its own per document) in batches of four, to every subscriber
# (broadcast); the output waits for the first one.
FEED = """\
feed:
  input: {generate: {mapping: 'root = {"n": count("COUNTER")}', count: 12, interval: "", batch_size: 4}}
  output: {http_server: {ws_path: /ws, stream_path: /sse, stream_format: event_source, path: "", %s}}
"""
AUTH = """\
components:
  securitySchemes:
    key: { type: apiKey, in: header, name: Authorization }
security:
  - key: []
"""


def rate_api(rate: str = "{rate: 5, per: 60s}", *, auth: bool = False, output: str = "fan_out: broadcast") -> str:
    feed = (FEED % output).replace("COUNTER", uuid.uuid4().hex)
    text = api_yaml("/feed/", feed, api_id="feed") + f"x-asyncgate-message-rate: {rate}\n"
    if auth:
        text = text.replace("  server: {listenPath: {value: '/feed/', strip: true}}\n",
                            "  server:\n    listenPath: {value: '/feed/', strip: true}\n"
                            "    authentication: {enabled: true}\n") + AUTH
    return text


def output_stats(app: Any) -> dict[str, Any]:
    (instance,) = app.state.gateway.instances()
    (component,) = instance["components"]
    return component["stats"]


async def ws_messages(url: str, **kw: Any) -> tuple[list[int], int | None, str]:
    """Every message a WebSocket subscriber gets until it is closed, and the close code and reason."""
    ws = await ws_connect(url, **kw)
    got = []
    try:
        while True:
            got.append(orjson.loads(await recv(ws))["n"])
    except ConnectionClosed:
        pass
    assert ws.close_code is not None
    return got, ws.close_code, ws.close_reason or ""


def test_the_extension_is_read_and_bad_values_are_located_errors() -> None:
    api = load_api_text(rate_api(), "feed.yaml")
    assert api.message_rate == MessageRate(5, 60.0, "drop") and not api.warnings
    assert load_api_text(rate_api("{rate: 1, per: 1s, action: close}"), "f.yaml").message_rate == \
        MessageRate(1, 1.0, "close")
    assert load_api_text(api_yaml("/feed/", FEED % "", api_id="feed"), "f.yaml").message_rate is None
    line = rate_api().count("\n")  # the extension is the document's last line
    prefix = len("x-asyncgate-message-rate: ")

    def at(rate: str, token: str) -> str:
        return f"feed.yaml:{line}:{prefix + rate.index(token) + 1}: "

    for rate, token, message in [
        ("{rate: 0, per: 60s}", "0", "x-asyncgate-message-rate.rate: must be at least 1 (got 0)"),
        ("{rate: 5, per: 0s}", "0s", "x-asyncgate-message-rate.per: must be a positive duration"),
        ("{rate: 5, per: 60s, action: drp}", "drp", 'action: "drp" is not one of: drop, close'),
        ("{rate: 5}", "{", 'missing required field "per" in x-asyncgate-message-rate'),
        ("{rate: 5, per: 1s, burst: 2}", "burst", 'unknown field "burst" in x-asyncgate-message-rate'),
        ("{rate: five, per: 1s}", "five", "rate: expected an integer"),
        ("5", "5", "x-asyncgate-message-rate: expected an object"),
    ]:
        expected = at(rate, token) + message
        with pytest.raises(ConfigError) as exc:
            load_api_text(rate_api(rate), "feed.yaml")
        assert any(str(d).startswith(expected) for d in exc.value.diagnostics), (rate, str(exc.value))


def test_a_websocket_subscriber_gets_exactly_5_of_12_and_the_rest_are_dropped(run, caplog) -> None:
    caplog.set_level(logging.WARNING)
    app = app_with(load_api_text(rate_api(), "feed.yaml"))

    async def main() -> None:
        async with served(app) as host:
            got, code, _ = await ws_messages(f"ws://{host}/feed/ws")
            # The first five in order; the stream then ends (its input is exhausted) and closes with 1001.
            assert (got, code) == ([1, 2, 3, 4, 5], 1001)
            stats = output_stats(app)
            assert (stats["rate_dropped"], stats["rate_closed"], stats["delivered"]) == (7, 0, 5)

    run(main(), timeout=20)
    over = [r for r in caplog.records if "over its message rate of 5 messages per 60s" in r.getMessage()]
    assert len(over) == 1  # once per subscriber, not per message


def test_a_websocket_subscriber_over_its_rate_is_closed_with_1008(run) -> None:
    app = app_with(load_api_text(rate_api("{rate: 5, per: 60s, action: close}"), "feed.yaml"))

    async def main() -> None:
        async with served(app) as host:
            got, code, reason = await ws_messages(f"ws://{host}/feed/ws")
            # What fitted is delivered before the close.
            assert (got, code, reason) == ([1, 2, 3, 4, 5], 1008, "message rate of 5 messages per 60s exceeded")
            stats = output_stats(app)
            assert (stats["rate_closed"], stats["rate_dropped"], stats["delivered"]) == (1, 0, 5)

    run(main(), timeout=20)


def test_an_sse_subscriber_gets_5_then_drops_or_its_response_ends(run) -> None:
    for action, counter, count in (("drop", "rate_dropped", 7), ("close", "rate_closed", 1)):
        app = app_with(load_api_text(rate_api("{rate: 5, per: 60s, action: %s}" % action), "feed.yaml"))

        async def main() -> None:
            async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
                # Asks for more than can come: returns when the response ends (closed, or the stream ended).
                events = await sse_events(client, "/feed/sse", 12)
                assert [orjson.loads(e["data"])["n"] for e in events] == [1, 2, 3, 4, 5]
                assert output_stats(app)[counter] == count  # noqa: B023 - run at once, in this iteration

        run(main(), timeout=20)


def test_a_keys_or_policys_message_rate_overrides_the_apis(run) -> None:
    app = app_with(load_api_text(rate_api("{rate: 5, per: 60s, action: close}", auth=True), "feed.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            rights = {"feed": {"api_id": "feed"}}
            created = await client.post("/_admin/keys", json={"access_rights": rights, "message_rate": 3,
                                                              "message_per": 60}, headers=ADMIN)
            assert created.status_code == 201, created.text
            got, code, reason = await ws_messages(f"ws://{host}/feed/ws",
                                                  additional_headers={"authorization": created.json()["key"]})
            # The key's rate, with the API's action.
            assert (got, code, reason) == ([1, 2, 3], 1008, "message rate of 3 messages per 60s exceeded")

    run(main(), timeout=20)

    app = app_with(load_api_text(rate_api(auth=True), "feed.yaml"))

    async def via_policy() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            policy = {"id": "chatty", "access_rights": {"feed": {}}, "message_rate": 8, "message_per": 60}
            assert (await client.post("/_admin/policies", json=policy, headers=ADMIN)).status_code == 201
            created = await client.post("/_admin/keys", json={"policies": ["chatty"]}, headers=ADMIN)
            key = created.json()["key"]
            events = await sse_events(client, "/feed/sse", 12, headers={"authorization": key})
            assert [orjson.loads(e["data"])["n"] for e in events] == [1, 2, 3, 4, 5, 6, 7, 8]
            await until(lambda: output_stats(app)["rate_dropped"] == 4)

    run(via_policy(), timeout=20)
