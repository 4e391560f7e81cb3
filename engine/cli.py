"""The `asyncgate` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Sequence

from . import __version__


def _run(args: argparse.Namespace) -> int:
    from . import logs
    from .config.loader import load_config
    from .errors import ComponentError, ConfigError
    from .runtime.manager import Manager

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    if not config.streams:
        print(f"{args.file}:1:1: no streams to run", file=sys.stderr)
        return 1
    logger = logs.configure(args.log_level or config.logger.get("level", "INFO"),
                            config.logger.get("format", "logfmt"), config.logger.get("add_timestamp", False))
    manager = Manager(config, logger)
    try:
        manager.build()
    except ComponentError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    from .serve_http import HttpServeError, prepare_http

    try:
        http = prepare_http(manager, logger)  # None unless some http_server component needs it
    except HttpServeError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1

    from .runtime.gc_tuning import tune_for_throughput

    tune_for_throughput()  # start-up objects out of the collector's sight, fewer young collections

    async def main() -> int:
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:  # a second Ctrl-C means now
                print("asyncgate: forced exit", file=sys.stderr)
                raise SystemExit(130)
            manager.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        try:
            if http is None:
                await manager.run()
            else:
                await http.run_while(manager.run(), stop=manager.stop)
        except ComponentError as exc:
            print(f"{args.file}: {exc}", file=sys.stderr)
            return 1
        return 0

    return _event_loop_run(main())


def _event_loop_run(coro) -> int:  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without it
        return asyncio.run(coro)
    return uvloop.run(coro)


def _lint(args: argparse.Namespace) -> int:
    from .config.loader import load_config
    from .errors import ConfigError

    failed = False
    for file in args.files:
        try:
            config = load_config(file)
        except ConfigError as exc:
            diagnostics = _with_gateway(file, exc.diagnostics)
            failed = failed or any(d.severity == "error" for d in diagnostics)
            for diagnostic in diagnostics:
                print(diagnostic, file=sys.stderr)
            continue
        warnings = _with_gateway(file, config.warnings)
        failed = failed or any(d.severity == "error" for d in warnings)
        for warning in warnings:
            print(warning, file=sys.stderr)
    return 1 if failed else 0


def _with_gateway(file: str, diagnostics: list) -> list:  # type: ignore[type-arg]
    """With an API definition (x-tyk-api-gateway), the gateway's own problems and warnings too."""
    try:
        from gateway_adapter.apis import gateway_diagnostics
    except ImportError:
        return diagnostics
    extra = [d for d in gateway_diagnostics(file) if d not in diagnostics]
    if not extra:
        return diagnostics
    every = list(diagnostics) + extra
    return sorted(every, key=lambda d: (d.severity != "error", d.line, d.column))


def _list(args: argparse.Namespace) -> int:
    from . import catalog

    print(catalog.render(args.kind, args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncgate",
        description="AsyncGate: an async-API gateway and dataflow engine. Streams are Bento-style "
                    "configs: input → pipeline.processors → output.",
    )
    parser.add_argument("--version", action="version", version=f"asyncgate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the streams in a config file",
                         description="Run the streams in FILE: one stream, a `streams:` map, or an OpenAPI "
                                     "API definition with x-tyk-streaming. Exits 0 when every finite input is "
                                     "drained; SIGINT/SIGTERM stop reading, deliver what is in flight, exit 0.")
    run.add_argument("file", metavar="FILE", help="YAML or JSON config")
    run.add_argument("--log-level", choices=["error", "warn", "info", "debug"],
                     help="override the config's logger.level")
    run.set_defaults(handler=_run)

    lint = sub.add_parser("lint", help="check config files without running them",
                          description="Validate each FILE. Errors and warnings are printed as FILE:LINE:COL: "
                                      "message. Exits 1 when any file has an error.")
    lint.add_argument("files", metavar="FILE", nargs="+")
    lint.set_defaults(handler=_lint)

    lst = sub.add_parser("list", help="list the available components",
                         description="List inputs, processors, outputs and rate limits, as text, as JSON "
                                     "(the specs), or as a JSON Schema of the whole config.")
    lst.add_argument("kind", nargs="?", choices=["inputs", "processors", "outputs", "rate-limits"],
                     help="only this kind (default: all)")
    lst.add_argument("--format", choices=["text", "json", "jsonschema"], default="text")
    lst.set_defaults(handler=_list)

    from . import blobl_cli

    blobl_cli.add_parser(sub)
    try:  # the gateway (`asyncgate serve`); its module imports the rest lazily
        from gateway_adapter.serve import add_parser as add_serve_parser
    except ImportError:
        pass
    else:
        add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `asyncgate list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
