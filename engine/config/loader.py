"""Read a config file in any of its three shapes into validated stream configs.

- one stream: `input`, `pipeline`, `output` at the top;
- Bento streams mode: a `streams:` map of named streams, sharing the top-level resources;
- an OpenAPI document carrying `x-tyk-streaming.streams` (the rest is the gateway's business).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal, Mapping

from .. import spec as s
from ..errors import ConfigError, Diagnostic
from .parse import Locations, parse_document
from .validate import ComponentConfig, Validator, path_text

STREAM_FIELDS = [
    s.Field("input", "input", "Where messages come from."),
    s.obj("pipeline", "Processors applied to every batch between input and output.",
          s.integer("threads", "Concurrent processing workers. -1 or 0 means one: the event loop is single-threaded, so more workers only help processors that wait on I/O (and they do not keep message order).", -1),
          s.Field("processors", "processor", "Processors applied in order.", default=[], kind="list"),
          default={}),
    s.Field("output", "output", "Where messages go."),
    s.unsupported("buffer", "Bento buffers; AsyncGate streams always use bounded in-memory queues."),
]

RESOURCE_FIELDS = [
    s.Field("rate_limit_resources", "rate_limit", "Rate limits shared by label with `rate_limit` processors.",
            default=[], kind="list"),
    s.unsupported("input_resources"),
    s.unsupported("processor_resources"),
    s.unsupported("output_resources"),
    s.unsupported("cache_resources"),
]

SERVICE_FIELDS = [
    s.obj("http", "The HTTP server that http_server components use.",
          s.boolean("enabled", "Serve HTTP at all.", True),
          s.string("address", "host:port to listen on.", "127.0.0.1:4195"),
          s.string("root_path", "A prefix for every endpoint.", ""),
          s.boolean("debug_endpoints", "Serve debug endpoints.", False),
          s.unsupported("cert_file"), s.unsupported("key_file"), s.unsupported("cors"),
          s.unsupported("basic_auth"),
          default={}),
    s.obj("logger", "Logging to stderr.",
          s.string("level", "Lowest level logged.", "INFO",
                   options=("OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL",
                            "off", "fatal", "error", "warn", "info", "debug", "trace", "all")),
          s.string("format", "Line format.", "logfmt", options=("logfmt", "json")),
          s.boolean("add_timestamp", "Prefix each line with the time.", False),
          s.unsupported("static_fields"), s.unsupported("level_name"), s.unsupported("timestamp_name"),
          s.unsupported("message_name"), s.unsupported("file"),
          default={}),
    s.duration("shutdown_timeout", "How long shutdown waits for in-flight messages to be delivered.", "20s"),
    s.duration("shutdown_delay", "How long to wait after a stop signal before stopping.", "0s"),
    s.unsupported("metrics", "Bento metrics exporters; AsyncGate exports OpenTelemetry metrics from the gateway."),
    s.unsupported("tracer"),
    s.unsupported("tests"),
]

STREAM_SPEC = s.obj("stream", "One stream.", *STREAM_FIELDS)
SINGLE_SPEC = s.obj("config", "A single stream config.", *STREAM_FIELDS, *RESOURCE_FIELDS, *SERVICE_FIELDS)
STREAMS_SPEC = s.obj("config", "A streams-mode config.",
                     s.Field("streams", "object", "Named streams.", kind="map", children=STREAM_FIELDS),
                     *RESOURCE_FIELDS, *SERVICE_FIELDS)

# The `x-tyk-streaming` block of an OpenAPI document (the rest of the document is the gateway's business).
OPENAPI_STREAMING_SPEC = s.obj("x-tyk-streaming", "Streams carried by an OpenAPI API definition.",
                               s.Field("streams", "object", "Named streams.", kind="map", children=STREAM_FIELDS,
                                       default={}),
                               *RESOURCE_FIELDS, *SERVICE_FIELDS)


@dataclass
class StreamConfig:
    name: str
    input: ComponentConfig
    processors: list[ComponentConfig]
    output: ComponentConfig
    threads: int = 1


@dataclass
class LoadedConfig:
    file: str
    shape: Literal["stream", "streams", "openapi"]
    streams: dict[str, StreamConfig]
    rate_limits: dict[str, ComponentConfig] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    shutdown_timeout: float = 20.0
    shutdown_delay: float = 0.0
    warnings: list[Diagnostic] = field(default_factory=list)
    document: Any = None
    locations: Locations | None = None


MAX_CONFIG_BYTES = 64 << 20


def load_config(file: str, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate FILE; raise ConfigError with every located problem."""
    path = FilePath(file)
    try:
        with path.open("rb") as handle:  # bounded: `lint /dev/zero` must not eat the memory
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError([Diagnostic(file, 1, 1, f"larger than {MAX_CONFIG_BYTES >> 20} MiB; not a config file")])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([Diagnostic(file, 1, 1, "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([Diagnostic(file, 1, 1, "is a directory, not a config file")]) from None
    except PermissionError:
        raise ConfigError([Diagnostic(file, 1, 1, "permission denied")]) from None
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
        raise ConfigError([Diagnostic(file, before.count(b"\n") + 1, column,
                                      f"not UTF-8 text (byte 0x{data[exc.start]:02x})")]) from None
    except OSError as exc:
        raise ConfigError([Diagnostic(file, 1, 1, f"cannot read: {exc.strerror or exc}")]) from None
    return load_text(text, file, environ)


def load_text(text: str, file: str = "<config>", environ: Mapping[str, str] | None = None) -> LoadedConfig:
    document, locations = parse_document(text, file, environ)
    if not isinstance(document, dict):
        raise ConfigError([locations.error((), "expected an object at the top of the config")])
    v = Validator(locations)
    if "openapi" in document or "x-tyk-streaming" in document:
        loaded = _load_openapi(document, v, file)
    elif "streams" in document:
        conf = v.object(STREAMS_SPEC, document, ())
        loaded = _finish(file, "streams", v, conf, {
            name: _stream(name, body, ("streams", name)) for name, body in (conf or {}).get("streams", {}).items()
        })
    else:
        conf = v.object(SINGLE_SPEC, document, ())
        loaded = _finish(file, "stream", v, conf, {"main": _stream("main", conf, ())} if conf else {})
    loaded.document = document
    loaded.locations = locations
    v.warnings.sort(key=lambda d: (d.line, d.column))
    if v.errors:
        raise ConfigError(sorted(v.errors, key=lambda d: (d.line, d.column)) + v.warnings)
    return loaded


def _load_openapi(document: dict[str, Any], v: Validator, file: str) -> LoadedConfig:
    streaming = document.get("x-tyk-streaming")
    if streaming is None:
        return _finish(file, "openapi", v, {}, {})
    if not isinstance(streaming, dict):
        v.error(("x-tyk-streaming",), "x-tyk-streaming: expected an object with a `streams` map")
        return _finish(file, "openapi", v, {}, {})
    base = ("x-tyk-streaming",)
    conf = v.object(OPENAPI_STREAMING_SPEC, streaming, base)
    streams = {name: _stream(name, body, base + ("streams", name)) for name, body in (conf or {}).get("streams", {}).items()}
    return _finish(file, "openapi", v, conf, streams)


def _stream(name: str, body: dict[str, Any] | None, path: tuple[Any, ...]) -> StreamConfig | None:
    if not body or body.get("input") is None or body.get("output") is None:
        return None
    pipeline = body.get("pipeline") or {}
    return StreamConfig(name, body["input"], [p for p in pipeline.get("processors", []) if p], body["output"],
                        threads=pipeline.get("threads", -1))


def _finish(file: str, shape: Any, v: Validator, conf: dict[str, Any] | None,
            streams: dict[str, StreamConfig | None]) -> LoadedConfig:
    conf = conf or {}
    rate_limits: dict[str, ComponentConfig] = {}
    for i, rl in enumerate(conf.get("rate_limit_resources") or []):
        if rl is None:
            continue
        if not rl.label:
            v.error(("rate_limit_resources", i), "a rate limit resource needs a label, by which processors use it")
        rate_limits[rl.label] = rl
    return LoadedConfig(
        file=file, shape=shape,
        streams={k: st for k, st in streams.items() if st is not None},
        rate_limits=rate_limits,
        http=conf.get("http") or {}, logger=conf.get("logger") or {},
        shutdown_timeout=conf.get("shutdown_timeout", 20.0), shutdown_delay=conf.get("shutdown_delay", 0.0),
        warnings=v.warnings,
    )


__all__ = ["LoadedConfig", "StreamConfig", "load_config", "load_text", "path_text", "STREAM_SPEC", "SINGLE_SPEC",
           "STREAMS_SPEC", "OPENAPI_STREAMING_SPEC"]
