"""The gateway's own settings (`asyncgate serve --config gateway.yaml`), validated like stream configs:
every problem located as FILE:LINE:COL, unknown fields with a "did you mean"."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path as FilePath
from typing import Any, Mapping

from engine import spec as s
from engine.config.parse import parse_document
from engine.config.validate import Validator
from engine.errors import ConfigError, Diagnostic

ADMIN_SECRET_ENV = "ASYNCGATE_ADMIN_SECRET"
STORAGE_ENV = "ASYNCGATE_STORAGE"

GATEWAY_CONFIG_SPEC = s.obj(
    "gateway", "Settings of `asyncgate serve` and of `create_app(config=...)`.",
    s.string("host", "Address to listen on.", "127.0.0.1"),
    s.integer("port", "Port to listen on.", 8080),
    s.string("admin_secret", f"Bearer token of the management API (/_admin). Empty: the environment variable "
                             f"{ADMIN_SECRET_ENV}; with neither, the management API is disabled.", ""),
    s.string("storage", f"Where keys, policies and rate-limit counters live: `memory` (this process only) or "
                        f"`redis://host:port/db` (shared by every gateway process using it; requests are refused "
                        f"while Redis is unreachable). Empty: the environment variable {STORAGE_ENV}, else memory.",
             ""),
    s.duration("idle_timeout", "How long an instance of a context-variable stream runs with no request or "
                               "connection before it is stopped.", "60s"),
    s.duration("shutdown_timeout", "How long stopping a stream waits for in-flight messages to be delivered.",
               "20s"),
    s.duration("connect_timeout", "How long a request waits for its stream to connect before a 503.", "10s"),
    s.duration("ws_ping_interval", "How often the server pings WebSocket clients to keep idle connections "
                                   "open (0s: never).", "20s"),
    s.integer("max_instances_per_stream", "Most instances one context-variable stream may run at once "
                                          "(requests beyond get 503).", 1000),
    s.Field("apis", "string", "API definition files or directories (relative to this file).", default=[],
            kind="list"),
    s.boolean("watch", "Reload changed, added and removed API definition files while running.", False),
    s.integer("workers", "Worker processes (each runs every API's streams; the management API then refuses "
                         "changes to APIs, as they would reach one worker only, and to keys unless the storage is "
                         "shared).", 1),
    s.obj("logger", "Logging to stderr.",
          s.string("level", "Lowest level logged.", "INFO",
                   options=("OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL",
                            "off", "fatal", "error", "warn", "info", "debug", "trace", "all")),
          s.string("format", "Line format.", "logfmt", options=("logfmt", "json")),
          default={}),
    s.obj("metrics", "OpenTelemetry metrics (see docs/observability.md).",
          s.boolean("enabled", "Keep metrics and serve them as Prometheus text at `path`.", True),
          s.string("path", "Where the Prometheus text is served.", "/metrics"),
          s.boolean("require_admin_secret", "Serve them only with `Authorization: Bearer <admin secret>`.", False),
          s.obj("otlp", "Also export them over OTLP/HTTP (protobuf) when `endpoint` is set.",
                s.string("endpoint", "The collector's metrics URL, e.g. http://127.0.0.1:4318/v1/metrics.", ""),
                s.duration("interval", "How often they are exported.", "60s"),
                default={}),
          default={}),
    s.obj("tracing", "OpenTelemetry traces: a span per request and per stream stage, only when an exporter is set "
                     "(no tracing cost otherwise).",
          s.obj("otlp", "Export spans over OTLP/HTTP (protobuf).",
                s.string("endpoint", "The collector's traces URL, e.g. http://127.0.0.1:4318/v1/traces.", ""),
                default={}),
          default={}),
    s.obj("analytics", "A record per request and per subscription (see docs/observability.md).",
          s.boolean("enabled", "Keep the records in memory, readable at GET /_admin/analytics.", True),
          s.integer("capacity", "The most records kept (the oldest are dropped first).", 10000),
          s.Field("output", "output", "Also send every record (a JSON message) to this output, e.g. kafka; "
                                      "records are dropped (and counted) rather than slowing requests down when "
                                      "it falls behind.", default=None),
          default={}),
)


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    admin_secret: str = ""
    storage: str = ""
    idle_timeout: float = 60.0
    shutdown_timeout: float = 20.0
    connect_timeout: float = 10.0
    ws_ping_interval: float = 20.0
    max_instances_per_stream: int = 1000
    apis: list[str] = field(default_factory=list)
    watch: bool = False
    workers: int = 1
    logger: dict[str, Any] = field(default_factory=lambda: {"level": "INFO", "format": "logfmt"})
    metrics: dict[str, Any] = field(default_factory=lambda: {
        "enabled": True, "path": "/metrics", "require_admin_secret": False, "otlp": {"endpoint": "", "interval": 60.0}})
    tracing: dict[str, Any] = field(default_factory=lambda: {"otlp": {"endpoint": ""}})
    analytics: dict[str, Any] = field(default_factory=lambda: {"enabled": True, "capacity": 10000, "output": None})
    file: str = ""
    warnings: list[Diagnostic] = field(default_factory=list)

    def resolved_storage(self, environ: Mapping[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        return self.storage or env.get(STORAGE_ENV, "")

    def resolved_admin_secret(self, environ: Mapping[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        return self.admin_secret or env.get(ADMIN_SECRET_ENV, "")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], file: str = "<config>") -> "GatewayConfig":
        """A config from a plain mapping (e.g. `create_app(config={...})`), validated the same way."""
        import orjson

        return load_gateway_text(orjson.dumps(dict(values)).decode(), file)


def _check_observability(v: Validator, conf: dict[str, Any]) -> None:
    metrics, analytics = conf["metrics"], conf["analytics"]
    if metrics is not None:
        if metrics["path"] is not None and (not metrics["path"].startswith("/") or metrics["path"] == "/"):
            v.error(("metrics", "path"), f"path: {metrics['path']!r} must be a path below / (e.g. /metrics)")
        if metrics["otlp"] is not None and metrics["otlp"]["interval"] is not None \
                and metrics["otlp"]["interval"] <= 0:
            v.error(("metrics", "otlp", "interval"), "interval: must be positive")
        _check_url(v, metrics["otlp"], ("metrics", "otlp", "endpoint"))
    if conf["tracing"] is not None:
        _check_url(v, conf["tracing"]["otlp"], ("tracing", "otlp", "endpoint"))
    if analytics is not None and analytics["capacity"] is not None and analytics["capacity"] < 1:
        v.error(("analytics", "capacity"), f"capacity: must be at least 1, got {analytics['capacity']}")


def _check_url(v: Validator, section: dict[str, Any] | None, path: tuple[str, ...]) -> None:
    endpoint = (section or {}).get("endpoint")
    if endpoint and not str(endpoint).startswith(("http://", "https://")):
        v.error(path, f"endpoint: {endpoint!r} is not an http:// or https:// URL")


def load_gateway_config(file: str, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    try:
        text = FilePath(file).read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError([Diagnostic(file, 1, 1, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Diagnostic(file, 1, 1, f"cannot read: {exc}")]) from None
    config = load_gateway_text(text, file, environ)
    base = FilePath(file).parent
    config.apis = [str(base / p) if not os.path.isabs(p) else p for p in config.apis]
    return config


def load_gateway_text(text: str, file: str = "<config>", environ: Mapping[str, str] | None = None) -> GatewayConfig:
    document, locations = parse_document(text, file, environ)
    if isinstance(document, dict):  # `admin_secret:` with nothing (or an empty ${VAR:}) means unset
        document = {k: v for k, v in document.items() if v is not None}
    v = Validator(locations)
    conf = v.object(GATEWAY_CONFIG_SPEC, document, ())
    if conf is not None:
        path = ()
        if not 0 < conf["port"] < 65536:
            v.error(path + ("port",), f"port: {conf['port']} is not a port number (1-65535)")
        if conf["workers"] < 1:
            v.error(path + ("workers",), f"workers: must be at least 1, got {conf['workers']}")
        if conf["max_instances_per_stream"] < 1:
            v.error(path + ("max_instances_per_stream",), "max_instances_per_stream: must be at least 1")
        if conf["storage"] and conf["storage"] != "memory" and not conf["storage"].startswith(
                ("redis://", "rediss://", "unix://")):
            v.error(("storage",), f"storage: {conf['storage']!r} is not a storage URL (memory, or "
                                  "redis://host:port/db)")
        _check_observability(v, conf)
        for i, item in enumerate(conf["apis"]):
            if item in (None, ""):
                v.error(("apis", i), "apis: an empty path")
    if v.errors or conf is None:
        raise ConfigError(sorted(v.errors, key=lambda d: (d.line, d.column)) + v.warnings)
    known = {f.name for f in fields(GatewayConfig)}
    return GatewayConfig(**{k: val for k, val in conf.items() if k in known}, file=file, warnings=v.warnings)
