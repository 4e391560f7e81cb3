"""One running stream of an API: an engine Manager for that stream alone, with its own RouteTable.

A static stream has one instance for the API's lifetime; a stream whose config mentions context variables
has one instance per distinct rendering (api_runtime.py creates and retires those).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from typing import Any

from engine.config.loader import LoadedConfig
from engine.errors import ComponentError
from engine.runtime.http import ASGIApp, RouteTable
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager

CONNECT_RETRY_MAX = 10.0


class StreamInstance:
    def __init__(self, api_id: str, stream: str, config: LoadedConfig, *, hub: InprocHub,
                 logger: logging.Logger, key: tuple[tuple[str, str], ...] = (), idle_timeout: float | None = None,
                 shutdown_timeout: float | None = None, latency: bool = False, tracer: Any = None) -> None:
        self.api_id = api_id
        self.stream = stream
        self.key = key  # the context-variable values this instance was rendered with; () when static
        self.idle_timeout = idle_timeout  # None: never retired for idleness
        self.routes = RouteTable()
        self.config = config
        self.shutdown_timeout = config.shutdown_timeout if shutdown_timeout is None else shutdown_timeout
        self.log = logger
        self.manager = Manager(config, logger, hub=hub, routes=self.routes)
        self.state = "new"  # new → connecting → running → stopping → stopped | finished | failed
        self.error: str | None = None
        self.ready = asyncio.Event()
        self.active = 0  # requests and connections being served now
        self.requests = 0
        self.created = time.time()
        self.last_active = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._stop_asked = False
        self._measure = (latency, tracer)  # for the metrics and traces (engine Stream.measure)

    @property
    def name(self) -> str:
        if not self.key:
            return f"{self.api_id}/{self.stream}"
        return f"{self.api_id}/{self.stream}[" + ",".join(f"{k}={v}" for k, v in self.key) + "]"

    def build(self) -> None:
        """Create the components (and register their endpoints); raises ComponentError."""
        self.manager.build()
        if any(self._measure):
            for stream in self.manager.streams.values():
                stream.measure(*self._measure)

    def start(self) -> None:
        if self._task is None:
            self.state = "connecting"
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        streams = list(self.manager.streams.values())
        failures = 0
        try:
            for stream in streams:
                while True:
                    if self._stop_asked:
                        self.state = "stopped"
                        return
                    try:
                        await stream.connect()
                        break
                    except Exception as exc:  # retried, as Bento retries connecting
                        failures += 1
                        self.error = str(exc) or type(exc).__name__
                        delay = min(0.1 * 2 ** failures, CONNECT_RETRY_MAX)
                        self.log.error("%s: cannot connect (retrying in %.1fs): %s", self.name, delay, exc)
                        await asyncio.sleep(delay)
            self.error = None
            self.state = "running" if not self._stop_asked else "stopping"
            self.ready.set()
            results = await asyncio.gather(*(s.run(self.shutdown_timeout) for s in streams))
            for resource in self.manager.resources.values():
                close = getattr(resource, "close", None)
                if close is not None:
                    await close()
            self.state = "stopped" if self._stop_asked else "finished"
            if not all(results):
                self.log.warning("%s: stopped with messages undelivered", self.name)
        except asyncio.CancelledError:
            self.state = "stopped"
            raise
        except ComponentError as exc:
            self.state, self.error = "failed", str(exc)
            self.log.error("%s: %s", self.name, exc)
        except Exception as exc:  # one stream failing never takes the gateway down
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            self.log.exception("%s failed", self.name)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def done(self) -> bool:
        return self.state in ("stopped", "finished", "failed")

    async def stop(self) -> None:
        """Stop reading and deliver what is in flight (up to the shutdown timeout), then close."""
        self._stop_asked = True
        task = self._task
        if task is None:
            self.state = "stopped"
            return
        if not self.ready.is_set() and not task.done():
            # Still connecting (perhaps waiting to retry): nothing was read, nothing to drain.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for stream in self.manager.streams.values():
                for close in (stream.input.close, lambda s=stream: s.output.close(0)):
                    try:
                        await close()
                    except Exception as exc:  # closing what never connected: nothing to report
                        self.log.debug("%s: closing: %s", self.name, exc)
            self.state = "stopped"
            return
        if self.state in ("running", "connecting"):
            self.state = "stopping"
        self.manager.stop()
        # The streams' own shutdown timeout bounds the drain; the margin covers closing and the stop delay.
        limit = self.shutdown_timeout + self.config.shutdown_delay + 5.0
        try:
            await asyncio.wait_for(asyncio.shield(task), limit)
        except asyncio.TimeoutError:
            self.log.warning("%s: did not stop within %.1fs; cancelled", self.name, limit)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except asyncio.CancelledError:
            task.cancel()
            raise
        except Exception as exc:  # _run reports its own failures
            self.log.debug("%s: stopped with %s", self.name, exc)
        if not self.done:
            self.state = "stopped"

    async def wait_ready(self, timeout: float) -> bool:
        if self.ready.is_set():
            return True
        if self.done:
            return False
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def match(self, kind: str, path: str) -> ASGIApp | None:
        return self.routes.match(kind, path)  # type: ignore[arg-type]

    def in_use(self) -> "StreamInstance":
        """Count a request or connection as activity for as long as it lasts (idle instances are retired): a
        context manager, the instance itself (nothing is made per request)."""
        return self

    def __enter__(self) -> None:
        self.active += 1
        self.requests += 1

    def __exit__(self, *exc_info: object) -> None:
        self.active -= 1
        self.last_active = time.monotonic()

    def idle_for(self) -> float:
        return 0.0 if self.active else time.monotonic() - self.last_active

    # -- what the http_server components expose ----------------------------------------------------------

    def http_components(self) -> list[Any]:
        """The http_server inputs and outputs of this instance (each with `stats`, `close_clients`)."""
        from engine.components._http import http_components

        return http_components(self.routes)

    async def close_clients(self, code: int, reason: str) -> int:
        """Close the clients connected to this instance's endpoints; how many were closed."""
        closed = 0
        components = self.http_components()
        for component in components:
            try:
                result = component.close_clients(code, reason)
                if inspect.isawaitable(result):
                    result = await result
                closed += result if isinstance(result, int) else 0
            except Exception as exc:
                self.log.error("%s: closing clients failed: %s", self.name, exc)
        waits = [c.wait_clients_closed() for c in components if hasattr(c, "wait_clients_closed")]
        if waits:
            await asyncio.gather(*waits, return_exceptions=True)
        return closed

    def status(self) -> dict[str, Any]:
        components = [{"component": getattr(c, "where", type(c).__name__),
                       "endpoints": [list(e) for e in getattr(c, "endpoints", [])], "stats": _stats(c)}
                      for c in self.http_components()]
        streams = [{"name": name, "read_batches": stream.read_batches, "read_messages": stream.read_messages}
                   for name, stream in self.manager.streams.items()]
        return {
            "name": self.name, "api": self.api_id, "stream": self.stream, "state": self.state,
            "error": self.error, "context": dict(self.key), "dynamic": self.idle_timeout is not None,
            "active_connections": self.active, "requests": self.requests,
            "started_at": self.created, "idle_seconds": round(self.idle_for(), 3),
            "read_batches": sum(s["read_batches"] for s in streams),
            "read_messages": sum(s["read_messages"] for s in streams),
            "endpoints": [{"kind": kind, "path": path, "owner": owner} for kind, path, owner in self.routes.paths()],
            "components": components,
        }


def _stats(component: Any) -> Any:
    stats = getattr(component, "stats", None)
    if callable(stats):
        try:
            stats = stats()
        except Exception:
            return None
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    return stats
