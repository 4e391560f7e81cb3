"""The gateway's OpenTelemetry metrics: Prometheus text at `metrics.path` (default /metrics) and, when
`metrics.otlp.endpoint` is set, OTLP/HTTP export every `metrics.otlp.interval`.

Per request (recorded once it ends, see traffic.py):
  asyncgate.http.requests      {api_id, protocol, status_class, status_code}  requests and connections answered
  asyncgate.http.rejections    {api_id, reason}   refused before any stream: unauthenticated, forbidden, quota,
                                                  rate_limit, unavailable
  asyncgate.http.bytes         {api_id, direction: in|out}
Read when collected, from the counters the engine keeps anyway (no cost per message):
  asyncgate.connections.open   {api_id, protocol: http|sse|websocket}
  asyncgate.stream.messages    {api_id, stream, direction: in|out}   read by the input; written by the output
  asyncgate.stream.batches     {api_id, stream}                      batches read
  asyncgate.stream.errors      {api_id, stream}                      messages whose delivery failed (nacked)
  asyncgate.stream.drops       {api_id, stream, reason}              filtered (processors), subscriber_buffer
                                                                     (drop_oldest), discarded (left in the buffer
                                                                     of a client that went away)
  asyncgate.stream.batch.size  {api_id, stream}  histogram of batch sizes
  asyncgate.stream.latency     {api_id, stream}  histogram, seconds from a batch's read to its acknowledgement
  asyncgate.stream.status      {api_id, stream, component, field}  every other number StreamInstance.status()
                                                                   reports (e.g. http_server `clients`)
  asyncgate.analytics.dropped  records the analytics output could not keep up with

Counters of a context-variable stream's instances are summed per stream, and kept when an instance retires. The
resource carries service.name=asyncgate, service.version, service.instance.id and host.name.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricReader,
    MetricsData,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from engine import __version__
from engine.runtime.buckets import BATCH_SIZE_BOUNDS, LATENCY_BOUNDS, Buckets

if TYPE_CHECKING:
    from .gateway import Gateway
    from .traffic import Exchange

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST
SCOPE = InstrumentationScope("asyncgate", __version__)
# Counters of a stream read from the engine objects, summed per (api id, stream).
_COUNTERS = ("read_messages", "read_batches", "written_messages", "failed_messages", "filtered", "subscriber_buffer",
             "discarded")
_STATUS_SKIPPED = {"read_batches", "read_messages", "started_at", "idle_seconds"}

StreamKey = tuple[str, str]


def resource() -> Resource:
    return Resource.create({"service.name": "asyncgate", "service.version": __version__,
                            "service.instance.id": uuid.uuid4().hex, "host.name": socket.gethostname()})


class StreamTotals:
    """One stream's counters and histograms, summed over its instances."""

    def __init__(self) -> None:
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.batch_sizes = Buckets(BATCH_SIZE_BOUNDS)
        self.latency = Buckets(LATENCY_BOUNDS)

    def add(self, other: "StreamTotals") -> None:
        for name, value in other.counters.items():
            self.counters[name] += value
        self.batch_sizes.merge(other.batch_sizes)
        self.latency.merge(other.latency)


def instance_totals(instance: Any) -> StreamTotals:
    totals = StreamTotals()
    counters = totals.counters
    for stream in instance.manager.streams.values():
        counters["read_messages"] += stream.read_messages
        counters["read_batches"] += stream.read_batches
        counters["written_messages"] += stream.output.written_messages
        counters["failed_messages"] += stream.output.failed_messages
        counters["filtered"] += stream.dropped_messages
        totals.batch_sizes.merge(stream.batch_sizes)
        if stream.latency is not None:
            totals.latency.merge(stream.latency)
    for component in instance.http_components():
        stats = getattr(component, "counters", None)
        if isinstance(stats, dict):
            counters["subscriber_buffer"] += stats.get("dropped", 0)
            counters["discarded"] += stats.get("discarded", 0)
    return totals


class GatewayMetrics:
    def __init__(self, gateway: "Gateway", settings: dict[str, Any]) -> None:
        self.gateway = gateway
        self.path: str = settings["path"]
        self.require_admin_secret: bool = settings["require_admin_secret"]
        self.registry = CollectorRegistry(auto_describe=False)
        readers: list[Any] = [_PrometheusReader(self._with_histograms, registry=self.registry,
                                                scope_info_enabled=False)]
        otlp = settings.get("otlp") or {}
        self._push: _PushReader | None = None
        self._pushing: asyncio.Task[None] | None = None
        self.otlp_interval: float = otlp.get("interval") or 60.0
        if otlp.get("endpoint"):
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            self._push = _PushReader(self._with_histograms, OTLPMetricExporter(endpoint=otlp["endpoint"]))
            readers.append(self._push)
        self.provider = MeterProvider(resource=resource(), metric_readers=readers)
        self._start_ns = time.time_ns()
        self._retired: dict[StreamKey, StreamTotals] = {}
        self._seen: dict[int, tuple[StreamKey, Any, StreamTotals]] = {}  # id(instance) → last totals
        meter = self.provider.get_meter(SCOPE.name, SCOPE.version)
        # Per request: plain dict counts, read when collected (an OpenTelemetry counter's add costs several times
        # more, on every request).
        self.requests: dict[tuple[str, str, int], int] = {}  # (api id, protocol, status) → count
        self.rejections: dict[tuple[str, str], int] = {}  # (api id, reason) → count
        self.bytes: dict[tuple[str, str], int] = {}  # (api id, direction) → bytes
        meter.create_observable_counter(
            "asyncgate.http.requests", [self._requests], "{request}",
            "Requests and connections answered, by API and status.")
        meter.create_observable_counter(
            "asyncgate.http.rejections", [self._rejections], "{request}",
            "Requests refused before reaching a stream, by reason.")
        meter.create_observable_counter("asyncgate.http.bytes", [self._bytes], "By", "Bytes received and sent, by API.")
        meter.create_observable_up_down_counter(
            "asyncgate.connections.open", [self._open_connections], "{connection}",
            "Requests and connections open now, by API and protocol.")
        observed: list[tuple[str, str, str, Callable[[StreamKey, dict[str, int]], Iterable[Observation]]]] = [
            ("asyncgate.stream.messages", "{message}", "Messages read (in) and written (out) by a stream.",
             lambda key, c: [Observation(c["read_messages"], _attrs(key, direction="in")),
                             Observation(c["written_messages"], _attrs(key, direction="out"))]),
            ("asyncgate.stream.batches", "{batch}", "Batches read by a stream.",
             lambda key, c: [Observation(c["read_batches"], _attrs(key))]),
            ("asyncgate.stream.errors", "{message}", "Messages whose delivery failed.",
             lambda key, c: [Observation(c["failed_messages"], _attrs(key))]),
            ("asyncgate.stream.drops", "{message}", "Messages dropped: filtered, subscriber_buffer, discarded.",
             lambda key, c: [Observation(c[reason], _attrs(key, reason=reason))
                             for reason in ("filtered", "subscriber_buffer", "discarded")]),
        ]
        for name, unit, description, observe in observed:
            meter.create_observable_counter(name, [self._stream_callback(observe)], unit, description)
        meter.create_observable_gauge("asyncgate.stream.status", [self._status], "1",
                                      "Every number StreamInstance.status() reports, summed over instances.")
        meter.create_observable_counter("asyncgate.analytics.dropped", [self._analytics_dropped], "{record}",
                                        "Analytics records the analytics output could not keep up with.")

    # -- per request ---------------------------------------------------------------------------------------

    def record_exchange(self, exchange: "Exchange") -> None:
        api_id = exchange.api_id
        key = (api_id, exchange.protocol, exchange.status or 500)
        self.requests[key] = self.requests.get(key, 0) + 1
        rejection = exchange.rejection
        if rejection is not None:
            self.rejections[(api_id, rejection)] = self.rejections.get((api_id, rejection), 0) + 1
        if exchange.bytes_in:
            self.bytes[(api_id, "in")] = self.bytes.get((api_id, "in"), 0) + exchange.bytes_in
        if exchange.bytes_out:
            self.bytes[(api_id, "out")] = self.bytes.get((api_id, "out"), 0) + exchange.bytes_out

    def _requests(self, options: CallbackOptions) -> Iterator[Observation]:
        for (api_id, protocol, status), count in list(self.requests.items()):
            yield Observation(count, {"api_id": api_id, "protocol": protocol, "status_class": f"{status // 100}xx",
                                      "status_code": status})

    def _rejections(self, options: CallbackOptions) -> Iterator[Observation]:
        for (api_id, reason), count in list(self.rejections.items()):
            yield Observation(count, {"api_id": api_id, "reason": reason})

    def _bytes(self, options: CallbackOptions) -> Iterator[Observation]:
        for (api_id, direction), count in list(self.bytes.items()):
            yield Observation(count, {"api_id": api_id, "direction": direction})

    # -- exposure ------------------------------------------------------------------------------------------

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    async def start(self) -> None:
        if self._push is not None and self._pushing is None:
            self._pushing = asyncio.ensure_future(self._push_every(self.otlp_interval))

    async def stop(self) -> None:
        """Push once more (what the last interval counted), then shut the exporters down."""
        if self._pushing is not None:
            self._pushing.cancel()
            await asyncio.gather(self._pushing, return_exceptions=True)
            self._pushing = None
            await self._push_now()
        self.provider.shutdown()

    async def _push_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._push_now()

    async def _push_now(self) -> None:
        # Collected here, on the event loop (the callbacks read the gateway's objects); sent from a thread
        # (the exporter's HTTP client blocks), so neither the loop waits nor a thread reads live objects.
        assert self._push is not None
        self._push.collect()
        data, self._push.latest = self._push.latest, None
        if data is not None:
            await asyncio.to_thread(self._push.exporter.export, data)

    # -- read when collected -------------------------------------------------------------------------------

    def _open_connections(self, options: CallbackOptions) -> Iterator[Observation]:
        counts = self.gateway.traffic.open if self.gateway.traffic is not None else {}
        for runtime in list(self.gateway.apis.values()):
            if runtime.api.active:
                for protocol in ("http", "sse", "websocket"):
                    yield Observation(counts.get((runtime.api.id, protocol), 0),
                                      {"api_id": runtime.api.id, "protocol": protocol})

    def stream_totals(self) -> dict[StreamKey, StreamTotals]:
        """Every stream's totals: its live instances' plus those of the instances retired since."""
        live: dict[int, tuple[StreamKey, Any, StreamTotals]] = {}
        for runtime in list(self.gateway.apis.values()):
            for instance in runtime.all_instances():
                live[id(instance)] = ((instance.api_id, instance.stream), instance, instance_totals(instance))
        for ident, (key, instance, last) in self._seen.items():
            if ident not in live or live[ident][1] is not instance:
                self._retired.setdefault(key, StreamTotals()).add(last)
        self._seen = live
        result: dict[StreamKey, StreamTotals] = {}
        for key, retired in self._retired.items():
            result.setdefault(key, StreamTotals()).add(retired)
        for key, _, totals in live.values():
            result.setdefault(key, StreamTotals()).add(totals)
        return result

    def _stream_callback(self, observe: Callable[[StreamKey, dict[str, int]], Iterable[Observation]]) -> Any:
        def callback(options: CallbackOptions) -> Iterator[Observation]:
            for key, totals in self.stream_totals().items():
                yield from observe(key, totals.counters)

        return callback

    def _status(self, options: CallbackOptions) -> Iterator[Observation]:
        sums: dict[tuple[str, str, str, str], float] = {}
        for runtime in list(self.gateway.apis.values()):
            for instance in runtime.all_instances():
                status = instance.status()
                base = (instance.api_id, instance.stream)
                for field, value in _numbers(status, skip=_STATUS_SKIPPED):
                    sums[(*base, "", field)] = sums.get((*base, "", field), 0) + value
                for component in status.get("components") or ():
                    for field, value in _numbers(component.get("stats") or {}):
                        where = (*base, str(component.get("component", "")), field)
                        sums[where] = sums.get(where, 0) + value
        for (api_id, stream, component, field), value in sums.items():
            yield Observation(value, {"api_id": api_id, "stream": stream, "component": component, "field": field})

    def _analytics_dropped(self, options: CallbackOptions) -> Iterator[Observation]:
        analytics = self.gateway.traffic.analytics if self.gateway.traffic is not None else None
        if analytics is not None and analytics.output is not None:
            yield Observation(analytics.output.dropped)

    def _with_histograms(self, data: MetricsData) -> MetricsData:
        """DATA with the streams' batch-size and latency histograms, built from their bucket counts (an
        observable histogram, which the OpenTelemetry API does not have)."""
        now = time.time_ns()
        sizes, latencies = [], []
        for key, totals in self.stream_totals().items():
            for points, buckets in ((sizes, totals.batch_sizes), (latencies, totals.latency)):
                if buckets.count:
                    points.append(HistogramDataPoint(
                        attributes=_attrs(key), start_time_unix_nano=self._start_ns, time_unix_nano=now,
                        count=buckets.count, sum=buckets.sum, bucket_counts=list(buckets.counts),
                        explicit_bounds=list(buckets.bounds), min=buckets.min, max=buckets.max))
        produced = [Metric(name, description, unit, Histogram(points, AggregationTemporality.CUMULATIVE))
                    for name, description, unit, points in (
                        ("asyncgate.stream.batch.size", "Sizes of the batches a stream read.", "{message}", sizes),
                        ("asyncgate.stream.latency", "Seconds from a batch's read to its acknowledgement.", "s",
                         latencies)) if points]
        if produced and data.resource_metrics:
            # Into the scope of the SDK's own instruments: exporters group by scope, a second one would replace it.
            scopes = data.resource_metrics[0].scope_metrics
            for i, scope in enumerate(scopes):
                if scope.scope.name == SCOPE.name:
                    scopes[i] = ScopeMetrics(scope.scope, [*scope.metrics, *produced], scope.schema_url)
                    break
            else:
                scopes.append(ScopeMetrics(SCOPE, produced, ""))
        return data


class _PrometheusReader(PrometheusMetricReader):
    def __init__(self, produce: Callable[[MetricsData], MetricsData], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._produce = produce

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        super()._receive_metrics(self._produce(metrics_data), timeout_millis, **kwargs)


class _PushReader(MetricReader):
    """Collects when told to (GatewayMetrics._push_now) and keeps the result for its exporter."""

    def __init__(self, produce: Callable[[MetricsData], MetricsData], exporter: MetricExporter) -> None:
        super().__init__(preferred_temporality=exporter._preferred_temporality,
                         preferred_aggregation=exporter._preferred_aggregation)
        self._produce = produce
        self.exporter = exporter
        self.latest: MetricsData | None = None

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self.latest = self._produce(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.exporter.shutdown()


def _attrs(key: StreamKey, **more: str) -> dict[str, str]:
    return {"api_id": key[0], "stream": key[1], **more}


def _numbers(values: dict[str, Any], prefix: str = "", skip: Iterable[str] = ()) -> Iterator[tuple[str, float]]:
    """The numbers in VALUES (nested dicts flattened with dots), booleans left out."""
    for name, value in values.items():
        if name in skip:
            continue
        if isinstance(value, dict):
            yield from _numbers(value, f"{prefix}{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{name}", value
