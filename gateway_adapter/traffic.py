"""What the gateway sees of each request to an API: one `Exchange` per request or connection, observed by wrapping
`send` and `receive` once around `ApiRuntime.handle`, so refusals (401/403/429/503, answered by `deny()` inside it)
are seen as well as what the streams answered.

When the exchange ends it goes to the metrics (requests by status class, rejections by reason, bytes) and to the
analytics ring. While it lasts it counts as an open connection of its API and protocol (`websocket`, `sse` once
the response is an event stream, `http`). `ApiRuntime.handle` adds what only it knows with `note(scope, ...)`: the
session the request authenticated as, why it was refused, the stream that served it. A subscription's messages
and the bytes of its pre-framed WebSocket writes (engine/runtime/ws_frames.py, which bypass `send`) are read from
its http_server subscriber when it ends (engine/runtime/http.py SUBSCRIBER_HOOK): no wrapper on that path.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING, Any

from engine.runtime.http import SUBSCRIBER_HOOK, Receive, Scope, Send

if TYPE_CHECKING:
    from .analytics import Analytics
    from .api_runtime import ApiRuntime
    from .gateway import Gateway
    from .metrics import GatewayMetrics

EXCHANGE = "asyncgate.exchange"
# Why a request that never reached a stream was refused, when handle() did not say.
REASONS = {401: "unauthenticated", 403: "forbidden", 429: "rate_limit", 503: "unavailable"}


class Exchange:
    """One request or connection to an API, as it went."""

    __slots__ = ("api_id", "api_name", "protocol", "method", "path", "client_ip", "user_agent", "started",
                 "status", "bytes_in", "bytes_out", "session", "reason", "stream", "subscriber", "response_headers")

    def __init__(self, api_id: str, api_name: str, scope: Scope) -> None:
        self.api_id = api_id
        self.api_name = api_name
        self.protocol = "websocket" if scope["type"] == "websocket" else "http"
        self.method: str = scope.get("method") or "GET"
        self.path: str = scope.get("path", "")  # never the query string: it may carry an API key
        client = scope.get("client")
        self.client_ip: str = client[0] if client else ""
        self.user_agent = ""
        for name, value in scope.get("headers") or ():
            if name == b"user-agent":
                self.user_agent = value.decode("latin-1")[:512]
                break
        self.started = time.monotonic()
        self.status: int | None = None  # None until answered (at the end: the handler failed, the server says 500)
        self.bytes_in = 0
        self.bytes_out = 0
        self.session: Any = None  # the keys.Session it authenticated as
        self.reason: str | None = None
        self.stream: str | None = None
        self.subscriber: Any = None  # the http_server Subscriber that served it
        self.response_headers: list[tuple[bytes, bytes]] = []  # added to the response start or the accept

    def serve_subscriber(self, subscriber: Any) -> None:
        """The SUBSCRIBER_HOOK: the http_server subscriber serving this exchange."""
        self.subscriber = subscriber

    @property
    def messages(self) -> int:
        return self.subscriber.delivered if self.subscriber is not None else 0

    @property
    def kind(self) -> str:
        if self.subscriber is not None and self.subscriber.kind != "poll":
            return "subscription"
        return "connection" if self.protocol == "websocket" else "request"

    @property
    def rejection(self) -> str | None:
        """Why the gateway refused it before any stream, or None."""
        if self.stream is not None or self.status not in REASONS:
            return None
        return self.reason or REASONS[self.status]  # type: ignore[index]

    def record(self) -> dict[str, Any]:
        """The analytics record: who (key id and alias, never the key nor its hash), what, how it went."""
        session = self.session
        return {
            "timestamp": round(time.time(), 6), "kind": self.kind, "api_id": self.api_id,
            "api_name": self.api_name, "key_id": session.id if session is not None else None,
            "key_alias": session.alias if session is not None else None, "method": self.method, "path": self.path,
            "protocol": self.protocol, "stream": self.stream, "status": self.status or 500,
            "rejection": self.rejection,
            "client_ip": self.client_ip, "user_agent": self.user_agent, "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out, "messages": self.messages,
            "duration": round(time.monotonic() - self.started, 6),
        }


def note(scope: Scope, **values: Any) -> None:
    """Tell the request's exchange (if it is observed) what only the caller knows: session, reason, stream."""
    exchange = scope.get(EXCHANGE)
    if exchange is not None:
        for name, value in values.items():
            setattr(exchange, name, value)


class Traffic:
    """Observes the requests of every API for the metrics, the analytics and the tracer (each may be None), and
    starts and stops what they export with the gateway."""

    def __init__(self, metrics: "GatewayMetrics | None", analytics: "Analytics | None",
                 tracer_provider: Any = None) -> None:
        self.metrics = metrics
        self.analytics = analytics
        self.tracer_provider = tracer_provider
        self.tracer = tracer_provider.get_tracer("asyncgate") if tracer_provider is not None else None
        self.open: collections.Counter[tuple[str, str]] = collections.Counter()  # (api id, protocol) → count

    @classmethod
    def of(cls, gateway: "Gateway") -> "Traffic | None":
        """What the gateway's config asks for (metrics, analytics, tracing); None when it asks for none."""
        config = gateway.config
        metrics = analytics = provider = None
        if config.metrics["enabled"]:
            from .metrics import GatewayMetrics

            metrics = GatewayMetrics(gateway, config.metrics)
        if config.analytics["enabled"]:
            from .analytics import Analytics

            analytics = Analytics(config.analytics["capacity"], config.analytics["output"], gateway.log)
        endpoint = config.tracing["otlp"]["endpoint"]
        if endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            from .metrics import resource

            provider = TracerProvider(resource=resource())
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        if metrics is None and analytics is None and provider is None:
            return None
        return cls(metrics, analytics, provider)

    async def start(self) -> None:
        if self.metrics is not None:
            await self.metrics.start()
        if self.analytics is not None:
            await self.analytics.start()

    async def stop(self) -> None:
        """After the streams stopped: the last analytics records and metrics go out, spans are flushed."""
        if self.analytics is not None:
            await self.analytics.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        if self.tracer_provider is not None:
            await asyncio.to_thread(self.tracer_provider.shutdown)

    async def handle(self, runtime: "ApiRuntime", scope: Scope, receive: Receive, send: Send, path: str,
                     full_path: str, root_path: str) -> None:
        """`runtime.handle(...)`, observed."""
        api = runtime.api
        exchange = Exchange(api.id, api.name, scope)
        # In place (the scope is this request's own): no copy of it per request or connection.
        scope[EXCHANGE] = exchange
        scope[SUBSCRIBER_HOOK] = exchange.serve_subscriber
        self.open[(exchange.api_id, exchange.protocol)] += 1
        try:
            if self.tracer is None:
                await runtime.handle(scope, _counted_receive(receive, exchange), self._observed(send, exchange),
                                     path, full_path, root_path)
            else:
                await self._traced(runtime, scope, receive, send, exchange, path, full_path, root_path)
        finally:
            self.open[(exchange.api_id, exchange.protocol)] -= 1
            if exchange.subscriber is not None:  # its pre-framed writes did not go through `send`
                exchange.bytes_out += getattr(exchange.subscriber, "bytes_written", 0)
            if self.metrics is not None:
                self.metrics.record_exchange(exchange)
            if self.analytics is not None:
                self.analytics.record(exchange.record())

    async def _traced(self, runtime: "ApiRuntime", scope: Scope, receive: Receive, send: Send, exchange: Exchange,
                      path: str, full_path: str, root_path: str) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attributes = {"http.request.method": exchange.method, "url.path": exchange.path,
                      "http.route": runtime.api.listen_path, "asyncgate.api_id": exchange.api_id,
                      "network.protocol.name": exchange.protocol}
        with self.tracer.start_as_current_span(f"{exchange.method} {runtime.api.listen_path}", kind=SpanKind.SERVER,
                                               attributes=attributes) as span:
            try:
                await runtime.handle(scope, _counted_receive(receive, exchange), self._observed(send, exchange),
                                     path, full_path, root_path)
            finally:
                span.set_attribute("http.response.status_code", exchange.status or 500)
                if exchange.stream is not None:
                    span.set_attribute("asyncgate.stream", exchange.stream)
                if exchange.rejection is not None:
                    span.set_attribute("asyncgate.rejection", exchange.rejection)
                if (exchange.status or 500) >= 500:
                    span.set_status(Status(StatusCode.ERROR))

    def _observed(self, send: Send, exchange: Exchange) -> Send:
        open_ = self.open

        async def observed(message: Any) -> None:
            kind = message["type"]
            if kind == "websocket.send":
                data = message.get("bytes")
                exchange.bytes_out += len(data) if data is not None else len(message.get("text", "").encode())
            elif kind in ("http.response.body", "websocket.http.response.body"):
                exchange.bytes_out += len(message.get("body", b""))
            elif kind in ("http.response.start", "websocket.http.response.start"):
                exchange.status = message["status"]
                if exchange.response_headers and kind == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), *exchange.response_headers]}
                if exchange.protocol == "http" and _is_event_stream(message.get("headers") or ()):
                    open_[(exchange.api_id, "http")] -= 1
                    open_[(exchange.api_id, "sse")] += 1
                    exchange.protocol = "sse"
            elif kind == "websocket.accept":
                exchange.status = 101
                if exchange.response_headers:
                    message = {**message, "headers": [*message.get("headers", ()), *exchange.response_headers]}
            elif kind == "websocket.close" and exchange.status is None:
                exchange.status = 403  # refused before the handshake: servers answer 403
            await send(message)

        return observed


def _counted_receive(receive: Receive, exchange: Exchange) -> Receive:
    async def counted() -> Any:
        message = await receive()
        body = message.get("body") or message.get("bytes")
        if body is not None:
            exchange.bytes_in += len(body)
        elif message.get("text") is not None:
            exchange.bytes_in += len(message["text"].encode())
        return message

    return counted


def _is_event_stream(headers: Any) -> bool:
    for name, value in headers:
        if value.startswith(b"text/event-stream") and name.lower() == b"content-type":
            return True
    return False
