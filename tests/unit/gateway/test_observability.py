"""Metrics, analytics and their exports (issue 6) with real traffic through a served gateway: /metrics parsed as
Prometheus text, the analytics endpoint with its filters, an analytics output to a file, OTLP export to a small
collector on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import __version__
from engine.errors import ConfigError
from engine.runtime.buckets import Buckets
from gateway_adapter import create_app, load_api_text
from gateway_adapter.analytics import Analytics
from gateway_adapter.config import load_gateway_text

from .support import api_yaml, recv, served, until, ws_connect
from .test_auth_keys import ADMIN, EXAMPLE, ORDER, SECRET, dropping_document, new_key, problem


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text: (name, labels) → value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of NAME's samples whose labels include LABELS (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


async def metrics(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


async def analytics(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/_admin/analytics", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def orders_app(**config: Any) -> Any:
    return create_app(apis=[load_api_text(EXAMPLE.read_text(), "orders.yaml")], admin_secret=SECRET,
                      config=config or None)


def test_metrics_and_analytics_show_the_requests_refusals_and_a_subscription(run) -> None:
    app = orders_app()

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            # Three requests a minute: the WebSocket upgrade and two POSTs pass, the fourth is refused.
            key, session = await new_key(client, alias="observer", rate=3, per=60)
            ws = await ws_connect(f"ws://{host}/orders/subscribe", additional_headers={"authorization": key})
            found = await metrics(client)
            assert value(found, "asyncgate_connections_open", api_id="orders-feed", protocol="websocket") == 1
            for n in range(2):
                assert (await client.post("/orders/publish", json={**ORDER, "n": n},
                                          headers={"authorization": key})).status_code == 200
                assert orjson.loads(await recv(ws))["n"] == n
            problem(await client.post("/orders/publish", json=ORDER), 401)
            problem(await client.post("/orders/publish", json=ORDER, headers={"authorization": key}), 429)

            found = await metrics(client)
            requests = "asyncgate_http_requests_total"
            assert value(found, requests, api_id="orders-feed", status_class="2xx") == 2
            assert value(found, requests, api_id="orders-feed", status_class="4xx") == 2
            assert value(found, requests, api_id="orders-feed", status_code="401") == 1
            assert value(found, requests, api_id="orders-feed", status_code="429") == 1
            rejections = "asyncgate_http_rejections_total"
            assert value(found, rejections, api_id="orders-feed", reason="unauthenticated") == 1
            assert value(found, rejections, api_id="orders-feed", reason="rate_limit") == 1
            stream = {"api_id": "orders-feed", "stream": "orders"}
            assert value(found, "asyncgate_stream_messages_total", direction="in", **stream) == 2
            assert value(found, "asyncgate_stream_messages_total", direction="out", **stream) == 2
            assert value(found, "asyncgate_stream_batch_size_count", **stream) == 2
            assert value(found, "asyncgate_stream_latency_seconds_count", **stream) == 2
            assert value(found, "asyncgate_stream_status", field="clients", **stream) == 1
            assert value(found, "asyncgate_http_bytes_total", api_id="orders-feed", direction="in") > 0
            (info,) = [labels for (name, labels) in found if name == "target_info"]
            assert {("service_name", "asyncgate"), ("service_version", __version__)} <= info
            assert {"service_instance_id", "host_name"} <= {k for k, _ in info}

            await ws.close()
            await until(lambda: app.state.gateway.traffic.open[("orders-feed", "websocket")] == 0)
            found = await metrics(client)
            assert value(found, "asyncgate_connections_open", api_id="orders-feed", protocol="websocket") == 0
            assert value(found, requests, api_id="orders-feed", protocol="websocket", status_code="101") == 1

            answer = await client.get("/_admin/analytics", headers=ADMIN)
            assert key not in answer.text and "hash" not in answer.text
            records = answer.json()["records"]
            assert [(r["method"], r["status"], r["rejection"]) for r in records] == [
                ("POST", 200, None), ("POST", 200, None), ("POST", 401, "unauthenticated"),
                ("POST", 429, "rate_limit"), ("GET", 101, None)]
            subscription = records[-1]
            assert subscription["kind"] == "subscription" and subscription["messages"] == 2
            assert subscription["bytes_out"] > 2 * len(orjson.dumps(ORDER))  # the two messages, framed
            assert (subscription["key_id"], subscription["key_alias"]) == (session["id"], "observer")
            assert subscription["path"] == "/orders/subscribe" and subscription["client_ip"] == "127.0.0.1"
            assert records[2]["key_id"] is None and records[3]["key_alias"] == "observer"
            assert all(r["api_id"] == "orders-feed" and r["api_name"] == "orders-feed" for r in records)
            assert records[0]["user_agent"].startswith("python-httpx") and records[0]["bytes_in"] > 0

            # Filters: the newest `limit`; after `since`, the oldest `limit`; by API.
            assert [r["status"] for r in (await analytics(client, limit=2))["records"]] == [429, 101]
            after = await analytics(client, since=records[1]["timestamp"], limit=2)
            assert [r["status"] for r in after["records"]] == [401, 429] and after["more"] is True
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(records[0]["timestamp"] - 60)) + "Z"
            assert len((await analytics(client, since=iso))["records"]) == 5
            assert (await analytics(client, api_id="other"))["records"] == []
            assert len((await analytics(client, api_id="orders-feed"))["records"]) == 5
            for params, named in (({"limit": "0"}, "limit"), ({"limit": "ten"}, "limit"),
                                  ({"since": "yesterday"}, "since"), ({"since": "nan"}, "since"),
                                  ({"apiid": "x"}, "apiid")):
                body = problem(await client.get("/_admin/analytics", params=params, headers=ADMIN), 400)
                assert body["detail"].startswith(named) or f"'{named}'" in body["detail"]
            problem(await client.get("/_admin/analytics"), 401)

    run(main(), timeout=30)


def test_metrics_can_require_the_admin_secret_and_refuse_without_one(run) -> None:
    guarded = {"metrics": {"path": "/internal/metrics", "require_admin_secret": True}}

    async def main() -> None:
        async with served(orders_app(**guarded)) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
            problem(await client.get("/internal/metrics"), 401)
            problem(await client.get("/internal/metrics", headers={"authorization": "Bearer wrong"}), 403)
            answer = await client.get("/internal/metrics", headers=ADMIN)
            assert answer.status_code == 200 and "asyncgate_connections_open" in answer.text
            problem(await client.get("/metrics"), 404)  # served at its configured path only
        no_secret = create_app(apis=[load_api_text(EXAMPLE.read_text(), "orders.yaml")], config=guarded)
        async with served(no_secret) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
            assert "none is configured" in problem(await client.get("/internal/metrics"), 403)["detail"]
        off = orders_app(metrics={"enabled": False}, analytics={"enabled": False})
        assert off.state.gateway.traffic is None
        async with served(off) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
            problem(await client.get("/metrics"), 404)
            assert "disabled" in problem(await client.get("/_admin/analytics", headers=ADMIN), 404)["detail"]

    run(main(), timeout=30)


def test_analytics_records_go_to_the_configured_output(run, tmp_path: Path) -> None:
    target = tmp_path / "analytics.jsonl"
    app = create_app(apis=[load_api_text(api_yaml("/t/", "s:\n  input: {http_server: {path: /in}}\n"
                                                          "  output: {drop: {}}\n"), "t.yaml")],
                     config={"analytics": {"output": {"file": {"path": str(target)}}}})

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            assert (await client.post("/t/in", content=b"one")).status_code == 200
            assert (await client.get("/t/in")).status_code == 405
            problem(await client.get("/t/nothing"), 404)
            await until(lambda: target.exists() and len(target.read_text().splitlines()) == 3)
        records = [orjson.loads(line) for line in target.read_text().splitlines()]
        assert [(r["method"], r["path"], r["status"]) for r in records] == [
            ("POST", "/t/in", 200), ("GET", "/t/in", 405), ("GET", "/t/nothing", 404)]
        assert records[0]["bytes_in"] == 3 and records[0]["stream"] == "s"

    run(main(), timeout=30)


def test_records_are_dropped_and_counted_when_the_output_falls_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from engine.config.validate import ComponentConfig
    from gateway_adapter import analytics as module

    monkeypatch.setattr(module, "QUEUE_LIMIT", 3)
    ring = Analytics(2, ComponentConfig("output", "drop", {}, "analytics.output.drop"), logging.getLogger("t"))
    for n in range(5):  # never started: nothing leaves the queue
        ring.record({"api_id": "a", "timestamp": float(n)})
    assert ring.output is not None and (ring.output.dropped, len(ring.output.queue)) == (2, 3)
    assert [r["timestamp"] for r in ring.query([])["records"]] == [3.0, 4.0]  # the ring keeps the newest two


class Collector:
    """A tiny OTLP/HTTP collector: what was POSTed to /v1/metrics and /v1/traces."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []

        async def receive(request: Request) -> Response:
            self.posts.append((request.url.path, request.headers.get("content-type", ""), await request.body()))
            return Response(b"", media_type="application/x-protobuf")

        self.app = Starlette(routes=[Route("/v1/metrics", receive, methods=["POST"]),
                                     Route("/v1/traces", receive, methods=["POST"])])

    def bodies(self, path: str) -> list[bytes]:
        return [body for where, kind, body in self.posts if where == path and kind == "application/x-protobuf"]


def test_otlp_export_posts_metrics_and_request_spans_to_a_collector(run) -> None:
    collector = Collector()

    async def main() -> None:
        async with served(collector.app) as otlp:
            app = create_app(apis=[load_api_text(dropping_document(), "orders.yaml")], admin_secret=SECRET, config=dict(
                metrics={"otlp": {"endpoint": f"http://{otlp}/v1/metrics", "interval": "200ms"}},
                tracing={"otlp": {"endpoint": f"http://{otlp}/v1/traces"}}))
            async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
                problem(await client.post("/orders/publish", json=ORDER), 401)
                key, _ = await new_key(client)
                assert (await client.post("/orders/publish", json=ORDER, headers={"authorization": key})).status_code \
                    == 200
                await until(lambda: collector.bodies("/v1/metrics"), timeout=10)
            # Stopping the gateway pushes the last metrics and flushes the spans.
        names, resource = set(), {}
        for body in collector.bodies("/v1/metrics"):
            request = ExportMetricsServiceRequest.FromString(body)
            for rm in request.resource_metrics:
                resource.update({a.key: a.value.string_value for a in rm.resource.attributes})
                names.update(m.name for sm in rm.scope_metrics for m in sm.metrics)
        assert {"asyncgate.http.requests", "asyncgate.http.rejections", "asyncgate.stream.messages",
                "asyncgate.stream.latency"} <= names
        assert resource["service.name"] == "asyncgate" and resource["service.instance.id"]
        spans = [span for body in collector.bodies("/v1/traces")
                 for rs in ExportTraceServiceRequest.FromString(body).resource_spans
                 for ss in rs.scope_spans for span in ss.spans]
        statuses = sorted(a.value.int_value for s in spans if s.name == "POST /orders/"
                          for a in s.attributes if a.key == "http.response.status_code")
        assert statuses == [200, 401]
        assert any(s.name == "stream orders" for s in spans) and any(s.name == "processors" for s in spans)

    run(main(), timeout=40)


def test_bad_observability_settings_are_located_errors() -> None:
    text = ("metrics:\n  path: metrics\n  otlp: {endpoint: 'collector:4318', interval: 0s}\n"
            "tracing: {otlp: {endpont: x}}\nanalytics:\n  capacity: 0\n  output: {fil: {path: x}}\n")
    with pytest.raises(ConfigError) as exc:
        load_gateway_text(text, "g.yaml")
    assert [str(d) for d in exc.value.diagnostics] == [
        "g.yaml:2:9: path: 'metrics' must be a path below / (e.g. /metrics)",
        "g.yaml:3:20: endpoint: 'collector:4318' is not an http:// or https:// URL",
        "g.yaml:3:48: interval: must be positive",
        'g.yaml:4:18: unknown field "endpont" in tracing.otlp (did you mean "endpoint"?); expected one of: endpoint',
        "g.yaml:6:13: capacity: must be at least 1, got 0",
        'g.yaml:7:12: unknown output type "fil" (did you mean "file"?)',
    ]


def test_buckets_count_each_value_in_its_bucket() -> None:
    buckets = Buckets((1.0, 2.0, 4.0))
    for v in (0.5, 1.0, 1.5, 4.0, 9.0):
        buckets.add(v)
    assert buckets.counts == [2, 1, 1, 1] and buckets.count == 5 and buckets.sum == 16.0
    other = Buckets((1.0, 2.0, 4.0))
    other.add(3.0)
    buckets.merge(other)
    assert buckets.counts == [2, 1, 2, 1] and (buckets.min, buckets.max) == (0.5, 9.0)
