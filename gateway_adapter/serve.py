"""`asyncgate serve`: the gateway on Hypercorn (uvloop).

    asyncgate serve [--apis PATH ...] [--host H] [--port P] [--config gateway.yaml] [--watch] [--workers N]

PATH: API definition files, or directories of them (*.yaml, *.yml, *.json). With no APIs (neither
--apis nor the config's `apis`), the built-in demo API is served. Command-line options win over the
config file. SIGINT/SIGTERM: the streams stop reading, deliver what is in flight, clients are closed
with 1001, and the process exits 0.

This module is imported by `asyncgate --help`: keep its top level light.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import GatewayConfig
    from .gateway import Gateway

DEMO_API = str(Path(__file__).parent / "demo" / "demo-api.yaml")
WORKER_ENV = "ASYNCGATE_SERVE_WORKER"


def add_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="serve API definitions (the gateway)",
        description="Serve the streams of API definitions (OpenAPI documents with x-tyk-streaming and "
                    "x-tyk-api-gateway) over WebSocket, SSE, HTTP streaming and long-poll, each API under its "
                    "listen path. With no APIs, a built-in demo API is served. /healthz, /readyz, and /_admin "
                    "(the management API, when ASYNCGATE_ADMIN_SECRET or the config's admin_secret is set). Keys, "
                    "policies and rate-limit counters live in memory, or in Redis shared by several gateways: "
                    "ASYNCGATE_STORAGE=redis://host:6379/0 (or the config's storage); give every gateway the same "
                    "ASYNCGATE_KEY_SALT. Requests are refused (503) while that storage does not answer.")
    serve.add_argument("--apis", metavar="PATH", nargs="+", action="extend",
                       help="API definition files or directories (*.yaml, *.yml, *.json)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--config", metavar="FILE", help="gateway config (YAML): host, port, admin_secret, "
                                                         "storage, idle_timeout, shutdown_timeout, apis, ...")
    serve.add_argument("--watch", action="store_true", default=None,
                       help="reload changed, added and removed API definition files live")
    serve.add_argument("--workers", type=int, metavar="N", help="worker processes (default 1)")
    serve.add_argument("--log-level", choices=["error", "warn", "info", "debug"],
                       help="override the config's logger.level")
    serve.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from engine import logs
    from engine.errors import ConfigError

    from .apis import api_files, load_api
    from .config import GatewayConfig, load_gateway_config
    from .gateway import Gateway

    try:
        config = load_gateway_config(args.config) if args.config else GatewayConfig()
    except ConfigError as exc:
        _print_all(exc.diagnostics)
        return 1
    _print_all(config.warnings)
    if args.host:
        config.host = args.host
    if args.port is not None:
        config.port = args.port
    if args.watch:
        config.watch = True
    if args.workers is not None:
        config.workers = args.workers
    if not 0 <= config.port < 65536 or config.workers < 1:
        print("asyncgate serve: --port must be 0-65535 and --workers at least 1", file=sys.stderr)
        return 2
    paths = list(args.apis or config.apis)
    demo = not paths
    if demo:
        paths = [DEMO_API]
    files = api_files(paths)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        for p in missing:
            print(f"{p}:1:1: no such file or directory", file=sys.stderr)
        return 1
    if not files and not config.watch:
        print(f"asyncgate serve: no API definition files (*.yaml, *.yml, *.json) in {', '.join(paths)}",
              file=sys.stderr)
        return 1
    definitions, failed = [], False
    for file in files:
        try:
            api = load_api(file)
        except ConfigError as exc:
            failed = True
            _print_all(exc.diagnostics)
            continue
        _print_all(api.warnings)
        definitions.append(api)
    if failed:
        return 1
    logger = logs.configure(args.log_level or config.logger.get("level", "INFO"), config.logger.get("format", "logfmt"))
    try:
        gateway = Gateway(config, definitions, logger.getChild("gateway"))
    except ConfigError as exc:
        _print_all(exc.diagnostics)
        return 1
    if config.watch and not demo:
        from .watch import ApiWatcher

        gateway.watcher = ApiWatcher(gateway, paths, initial=definitions)
    if config.workers > 1:
        return _run_workers(args, config)
    from engine.cli import _event_loop_run

    return _event_loop_run(serve_gateway(gateway, config, demo=demo))


async def serve_gateway(gateway: "Gateway", config: "GatewayConfig", *, demo: bool = False,
                        announce: bool = True) -> int:
    """Start GATEWAY's streams, then serve it on config.host:port until SIGINT/SIGTERM."""
    import asyncio
    import signal

    from .api_runtime import BuildError
    from .app import build_app

    try:
        await gateway.start()
    except BuildError as exc:
        print(f"asyncgate serve: {exc}", file=sys.stderr)
        await gateway.stop()
        return 1
    app = build_app(gateway)
    from engine.runtime.gc_tuning import tune_for_throughput

    tune_for_throughput()  # as `asyncgate run`: start-up objects out of the collector's sight
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            print("asyncgate: forced exit", file=sys.stderr)
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    if announce:
        print(describe(gateway, config, demo=demo), flush=True)
    try:
        await run_server(app, gateway, config.host, config.port, stop, ping_interval=config.ws_ping_interval)
    except OSError as exc:
        print(f"asyncgate serve: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    finally:
        await gateway.stop()
    return 0


async def run_server(app: Any, gateway: "Gateway", host: str, port: int, stop: Any,
                     ping_interval: float = 20.0) -> None:
    """Serve APP with Hypercorn until the event STOP is set. Then the gateway stops first (its streams drain,
    its clients are closed with 1001), and only then the server closes what connections remain: servers
    close connections before they run the lifespan shutdown, which would be too late to drain.

    PING_INTERVAL: the server pings WebSocket clients this often (0: never). Hypercorn's pinger outlives its
    connection until its next ping, which the short graceful timeout (everything has drained by then) cuts."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from engine.runtime.ws_frames import install_hypercorn

    install_hypercorn()  # pre-framed WebSocket sends for the http_server outputs (engine/runtime/ws_frames.py)
    hc = Config()
    hc.bind = [_bind(host, port)]
    hc.accesslog = None
    hc.graceful_timeout = 1.0
    hc.websocket_ping_interval = ping_interval or None

    async def shutdown_trigger() -> None:
        await stop.wait()
        await gateway.stop()

    # Connections still open after the graceful timeout (e.g. a closed WebSocket's pinger) are cancelled;
    # asyncio would log each cancellation as an error with a traceback.
    import asyncio

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def quiet_cancellations(loop: Any, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), asyncio.CancelledError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(quiet_cancellations)
    try:
        await serve(app, hc, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
    finally:
        loop.set_exception_handler(previous)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def describe(gateway: "Gateway", config: "GatewayConfig", *, demo: bool = False) -> str:
    """What is served, with URLs to try."""
    host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    base = f"http://{_bind(host, config.port)}"
    ws_base = "ws" + base[4:]
    lines = [f"AsyncGate gateway on {base} ({len(gateway.apis)} API(s))"]
    tries: list[str] = []
    for runtime in gateway.apis.values():
        api = runtime.api
        state = "" if api.active else " [inactive]"
        lines.append(f"  API {api.id} at {api.listen_path}{state} ({api.source})")
        prefix = api.prefix if api.strip else ""
        for kind, path, stream, component_kind in runtime.endpoint_kinds():
            url = (ws_base if kind == "websocket" else base) + prefix + path
            label = {"ws": "WebSocket", "stream": "stream (SSE or lines)", "poll": "long-poll GET",
                     "post": "POST"}.get(component_kind, kind)
            lines.append(f"    {label:<22} {url}   (stream {stream})")
            if component_kind == "stream":
                tries.append(f"curl -N {url}")
            elif component_kind == "post":
                tries.append(f"curl -d hello {url}")
            elif component_kind == "ws" and kind == "websocket":
                tries.append(f"python -m websockets {url}")
    secret = config.resolved_admin_secret()
    lines.append(f"  health: {base}/healthz  ready: {base}/readyz"
                 + (f"  metrics: {base}{config.metrics['path']}" if config.metrics["enabled"] else ""))
    lines.append(f"  management API: {base}/_admin/apis (Authorization: Bearer <admin secret>)" if secret else
                 "  management API: disabled (set ASYNCGATE_ADMIN_SECRET to enable it)")
    if demo and tries:
        lines.append("Try (subscribe first: messages wait for a subscriber):")
        posts = [t for t in tries if t.startswith("curl -d")]
        lines.extend(f"  {t}" for t in dict.fromkeys([t for t in tries if t not in posts] + posts))
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _print_all(diagnostics: Any) -> None:
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)


# -- several worker processes ----------------------------------------------------------------------------

def _run_workers(args: argparse.Namespace, config: "GatewayConfig") -> int:
    """Hypercorn's multi-process runner: each worker builds the same app from the same arguments."""
    import json

    from hypercorn.config import Config
    from hypercorn.run import run

    os.environ[WORKER_ENV] = json.dumps({"apis": args.apis, "config": args.config, "host": config.host,
                                         "port": config.port, "watch": config.watch, "workers": config.workers,
                                         "log_level": args.log_level})
    hc = Config()
    hc.bind = [_bind(config.host, config.port)]
    hc.workers = config.workers
    hc.worker_class = "uvloop"
    hc.accesslog = None
    hc.graceful_timeout = 5.0
    hc.application_path = "gateway_adapter.serve:worker_app()"
    shared = config.resolved_storage() not in ("", "memory")
    print(f"AsyncGate gateway on http://{_bind(config.host, config.port)} with {config.workers} worker "
          f"processes (each runs every API's streams; the management API changes "
          f"{'keys only: APIs are' if shared else 'nothing: it is'} read-only)", flush=True)
    return run(hc)


def worker_app() -> Any:
    """The app of one worker process (see _run_workers)."""
    import json

    from .apis import api_files, load_api
    from .app import build_app
    from .config import GatewayConfig, load_gateway_config
    from .gateway import Gateway

    settings = json.loads(os.environ[WORKER_ENV])
    config = load_gateway_config(settings["config"]) if settings["config"] else GatewayConfig()
    config.host, config.port, config.workers = settings["host"], settings["port"], settings["workers"]
    config.watch = bool(settings["watch"])
    paths = settings["apis"] or config.apis or [DEMO_API]
    from engine import logs

    logger = logs.configure(settings["log_level"] or config.logger.get("level", "INFO"),
                            config.logger.get("format", "logfmt"))
    definitions = [load_api(f) for f in api_files(paths)]
    gateway = Gateway(config, definitions, logger.getChild("gateway"))
    if config.watch and (settings["apis"] or config.apis):
        from .watch import ApiWatcher

        gateway.watcher = ApiWatcher(gateway, paths, initial=definitions)
    app = build_app(gateway)
    from engine.runtime.gc_tuning import tune_for_throughput

    tune_for_throughput()  # as `asyncgate run`; the streams start with the worker's lifespan
    return app
