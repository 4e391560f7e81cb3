"""`create_app(...)`: the gateway as one ASGI application (Starlette), to serve or to mount.

    from gateway_adapter import create_app
    gateway_app = create_app(apis=["apis/"])

Served on its own (`asyncgate serve`, or `hypercorn module:gateway_app`), its lifespan starts the APIs'
streams and stops them (draining) on shutdown.

Mounted inside another Starlette/FastAPI app, its lifespan does not run (Starlette runs only the outer
app's): pass the gateway's lifespan to the host so the streams start and stop with it:

    gateway = gateway_app.state.gateway
    host = Starlette(routes=[Mount("/gw", app=gateway_app)], lifespan=gateway.lifespan)
    # or, with a lifespan of your own:  async with gateway.lifespan(app): yield

Without that, the streams start on the first request (LazyStart) and run until the process ends.

Routes: `/healthz`, `/readyz`, `/metrics` (Prometheus text; the config's `metrics.path`), `/_admin/...` (only
with an admin secret), and every API under its listen path. API requests go straight to the gateway's router
(GatewayApp), not through Starlette's routing and middleware layers, which would cost CPU on every request.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from engine.errors import ConfigError
from engine.runtime.http import Receive, Scope, Send, send_problem

from .admin import create_admin_app
from .apis import ApiDefinition, api_files, load_api
from .config import GatewayConfig, load_gateway_config
from .gateway import Gateway
from .health import health_endpoints
from .metrics import PROMETHEUS_CONTENT_TYPE, GatewayMetrics
from .middleware import BearerAuth, LazyStart
from .problems import deny
from .router import GatewayRouter, route_path
from .traffic import EXCHANGE

log = logging.getLogger("asyncgate.gateway")


def create_app(apis: Iterable[str | ApiDefinition] | None = None,
               config: GatewayConfig | Mapping[str, Any] | str | None = None, *,
               admin_secret: str | None = None, watch: bool | None = None,
               logger: logging.Logger | None = None) -> "GatewayApp":
    """An ASGI app serving APIS: API definition files, directories of them, or loaded ApiDefinitions
    (with none, the config's `apis`). CONFIG: a GatewayConfig, a mapping of its fields, or a YAML file.

    Raises ConfigError (every located problem) when a definition is invalid or two of them collide. The
    Gateway behind the app is `app.state.gateway` (its `lifespan` is for mounting, see above)."""
    if isinstance(config, str):
        config = load_gateway_config(config)
    elif isinstance(config, Mapping):
        config = GatewayConfig.from_mapping(config)
    config = config or GatewayConfig()
    if watch is not None:
        config.watch = watch
    items = list(apis) if apis is not None else list(config.apis)
    paths = [item for item in items if isinstance(item, str)]
    definitions, errors = [], []
    for item in items:
        if isinstance(item, ApiDefinition):
            definitions.append(item)
    for file in api_files(paths):
        try:
            definitions.append(load_api(file))
        except ConfigError as exc:
            errors.extend(d for d in exc.diagnostics if d.severity == "error")
    if errors:
        raise ConfigError(errors)
    gateway = Gateway(config, definitions, logger)
    if config.watch and paths:
        from .watch import ApiWatcher

        gateway.watcher = ApiWatcher(gateway, paths, initial=definitions)
    return build_app(gateway, admin_secret)


def build_app(gateway: Gateway, admin_secret: str | None = None) -> "GatewayApp":
    """The ASGI app around an existing Gateway."""
    secret = admin_secret if admin_secret is not None else gateway.config.resolved_admin_secret()
    healthz, readyz = health_endpoints(gateway)
    routes: list[Any] = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
    metrics = gateway.traffic.metrics if gateway.traffic is not None else None
    if metrics is not None:
        served: Any = MetricsEndpoint(metrics)
        if metrics.require_admin_secret:
            served = BearerAuth(served, secret) if secret else NoSecret()
        routes.append(Route(metrics.path, served))
    if secret:
        routes.append(Mount("/_admin", app=BearerAuth(create_admin_app(gateway), secret)))
    served_paths = [route.path for route in routes]
    routes.append(Mount("", app=GatewayRouter(gateway)))
    framework = Starlette(routes=routes, lifespan=gateway.lifespan,
                          middleware=[Middleware(LazyStart, gateway=gateway)])
    framework.state.gateway = gateway
    return GatewayApp(gateway, framework, served_paths)


class GatewayApp:
    """The gateway's ASGI app. The lifespan, health, metrics and management paths go to FRAMEWORK (a Starlette
    app); every other request goes straight to the router, with the two things the framework would have
    given it: a start on the first request when no lifespan ran (LazyStart), and a JSON problem 500 (not a
    traceback, not the server's bare 500) when the handler fails before answering."""

    def __init__(self, gateway: Gateway, framework: Starlette, framework_paths: list[str]) -> None:
        self.gateway = gateway
        self.framework = framework
        self.state = framework.state
        self._framework_paths = frozenset(framework_paths)
        self._framework_prefixes = tuple(p + "/" for p in framework_paths)
        self._router = GatewayRouter(gateway)
        self._lazy_start = LazyStart(self._router, gateway)

    def _for_framework(self, path: str) -> bool:
        return path in self._framework_paths or path.startswith(self._framework_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or self._for_framework(route_path(scope)):
            await self.framework(scope, receive, send)
            return
        answered = None
        if self.gateway.traffic is None:  # otherwise the request's Exchange knows whether it was answered
            answered, send = _tracking_answer(send)
        try:
            await (self._router if self.gateway.started else self._lazy_start)(scope, receive, send)
        except Exception:
            exchange = scope.get(EXCHANGE)
            started = exchange.status is not None if exchange is not None else bool(answered and answered[0])
            if started:
                raise  # too late for a problem body: the server ends the response
            log.exception("%s %s failed", scope.get("method", "WEBSOCKET"), scope.get("path", ""))
            try:
                if kind == "websocket":  # the handshake may be half read: refuse it without reading on
                    await send({"type": "websocket.close", "code": 1011, "reason": "internal error"})
                else:
                    await send_problem(send, 500, "Internal Server Error", "the gateway failed to handle this "
                                                                           "request")
            except Exception:  # noqa: BLE001, S110 - the client is gone: nothing left to tell it
                pass


def _tracking_answer(send: Send) -> tuple[list[bool], Send]:
    """SEND, and a flag set once a response (or a WebSocket accept or close) went out."""
    answered = [False]

    async def tracked(message: Any) -> None:
        answered[0] = True
        await send(message)

    return answered, tracked


class MetricsEndpoint:
    """GET: the metrics as Prometheus text (an ASGI app, so that BearerAuth can guard it)."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await deny(scope, receive, send, 405, "Method Not Allowed", f"{self.metrics.path} answers GET only")
            return
        body = self.metrics.prometheus_text()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", PROMETHEUS_CONTENT_TYPE.encode()),
                                (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})


class NoSecret:
    """metrics.require_admin_secret without an admin secret: closed, as every auth that cannot be satisfied."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await deny(scope, receive, send, 403, "Forbidden", "the metrics require the admin secret, and none is "
                                                           "configured (admin_secret or ASYNCGATE_ADMIN_SECRET)")
