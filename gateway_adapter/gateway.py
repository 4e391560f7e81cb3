"""The set of APIs being served, and their lifecycle: start, stop (draining), and live changes.

Changes (the management API, `--watch`) are applied one at a time: a new or replaced API is built before
it takes over (a definition that cannot be built changes nothing); the old one's clients are closed with
1001 and its streams drain in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, AsyncIterator, Iterable

from engine.errors import ConfigError
from engine.runtime.inproc import InprocHub

from .api_runtime import ApiRuntime
from .apis import ApiDefinition, check_together
from .config import GatewayConfig
from .keys import SALT_ENV, KeyStore
from .limits import Limiter
from .policies import PolicyStore
from .storage import Storage, open_storage
from .traffic import Traffic


class Gateway:
    def __init__(self, config: GatewayConfig | None = None, apis: Iterable[ApiDefinition] = (),
                 logger: logging.Logger | None = None, storage: Storage | None = None) -> None:
        self.config = config or GatewayConfig()
        self.log = logger or logging.getLogger("asyncgate.gateway")
        # One hub for the whole gateway: `inproc` pipes connect streams across APIs and instances.
        self.hub = InprocHub()
        # Keys, policies and counters: in memory, or shared with other gateway processes (Redis).
        self._owns_storage = storage is None
        self.storage = storage or open_storage(self.config.resolved_storage())
        if self.storage.shared and not os.environ.get(SALT_ENV):
            self.log.warning("storage %s is shared but %s is not set: keys created through another gateway will "
                             "not be accepted here (give every gateway the same salt)", self.storage.url, SALT_ENV)
        # API keys (Tyk sessions), shared by every API; the management API's /keys changes them.
        self.keys = KeyStore(self.storage.records("keys"))
        # Policies (Tyk security policies) the keys refer to; the management API's /policies changes them.
        self.policies = PolicyStore(self.storage.records("policies"))
        # Rate-limit logs and quota counters, shared by every API (a key's limits hold across APIs).
        self.limiter: Limiter = self.storage.limiter
        # Metrics, analytics and tracing of every API's requests (None when the config turns them all off).
        self.traffic = Traffic.of(self)
        apis = list(apis)
        errors = check_together(apis)
        if errors:
            raise ConfigError(errors)
        self.apis: dict[str, ApiRuntime] = {api.id: self._runtime(api) for api in apis}
        self._index: list[tuple[str, ApiRuntime]] = []
        self._reindex()
        self.started = False
        self.stopped = False
        self._start_lock = asyncio.Lock()
        self._change_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self.on_started: list[Any] = []  # callbacks run once the gateway has started (serve prints URLs)
        self.watcher: Any = None

    def _runtime(self, api: ApiDefinition) -> ApiRuntime:
        runtime = ApiRuntime(api, self.config, self.hub, self.log, self.keys, self.limiter, self.policies)
        runtime.tracer = self.traffic.tracer if self.traffic is not None else None
        return runtime

    def _reindex(self) -> None:
        """Active APIs, longest listen path first: a request goes to the longest one that matches."""
        active = [(r.api.prefix, r) for r in self.apis.values() if r.api.active]
        self._index = sorted(active, key=lambda item: len(item[0]), reverse=True)

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build and start every API's streams; raises BuildError (nothing is left running) on failure."""
        async with self._start_lock:
            if self.started:
                return
            if self.stopped:
                raise RuntimeError("the gateway has been stopped")
            runtimes = [r for r in self.apis.values() if r.api.active]
            for runtime in runtimes:
                runtime.prepare()  # raises BuildError before anything runs
            for runtime in runtimes:
                runtime.start()
            if self.traffic is not None:
                await self.traffic.start()
            self.started = True
            if self.watcher is not None:
                self.watcher.start()
            for callback in self.on_started:
                callback(self)
            self.log.info("gateway started: %d API(s)", len(runtimes))

    async def stop(self) -> None:
        """Stop every stream (each drains its in-flight messages), then close the clients still connected."""
        if self.stopped:
            return
        self.stopped = True
        if self.watcher is not None:
            await self.watcher.stop()
        runtimes = list(self.apis.values())
        await asyncio.gather(*(r.stop() for r in runtimes), return_exceptions=True)
        for runtime in runtimes:
            await runtime.close_clients(1001, "server shutting down")
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.traffic is not None:
            await self.traffic.stop()
        if self._owns_storage:
            await self.storage.close()
        self.started = False
        self.log.info("gateway stopped")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Starts the streams with the host application and stops them with it.

        Pass it as a Starlette/FastAPI `lifespan=`, or enter it from your own lifespan."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # -- routing -----------------------------------------------------------------------------------------

    def route(self, path: str) -> tuple[ApiRuntime, str] | None:
        """The API serving PATH and the path below its listen path (what its streams see, if it strips)."""
        for prefix, runtime in self._index:
            if not prefix or path == prefix or path.startswith(prefix + "/"):
                rest = path[len(prefix):] if runtime.api.strip else path
                return runtime, rest or "/"
        return None

    # -- live changes ------------------------------------------------------------------------------------

    def get(self, api_id: str) -> ApiDefinition | None:
        runtime = self.apis.get(api_id)
        return runtime.api if runtime is not None else None

    async def put(self, api: ApiDefinition) -> bool:
        """Add API, or replace the API with its id; True when it is new. Raises ConfigError or BuildError."""
        async with self._change_lock:
            others = [r.api for i, r in self.apis.items() if i != api.id]
            errors = check_together([*others, api])
            if errors:
                raise ConfigError(errors)
            runtime = self._runtime(api)
            if self.started and api.active:
                runtime.prepare()  # raises BuildError: nothing changes
            old = self.apis.get(api.id)
            self.apis[api.id] = runtime
            self._reindex()
            if self.started and api.active:
                runtime.start()
            if old is not None:
                await self._retire(old, "API replaced")
            self.log.info("API %s %s (%s)", api.id, "replaced" if old else "added", api.source)
            return old is None

    async def delete(self, api_id: str) -> bool:
        async with self._change_lock:
            runtime = self.apis.pop(api_id, None)
            if runtime is None:
                return False
            self._reindex()
            await self._retire(runtime, "API removed")
            self.log.info("API %s removed", api_id)
            return True

    async def _retire(self, runtime: ApiRuntime, reason: str) -> None:
        # Its routes are gone already; its clients are told at once, its streams drain in the background.
        await runtime.close_clients(1001, reason)
        task = asyncio.ensure_future(runtime.stop())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- status ------------------------------------------------------------------------------------------

    def not_ready(self) -> list[str]:
        if not self.started:
            return ["the gateway has not started"]
        return [problem for r in self.apis.values() if r.api.active for problem in r.ready()]

    def instances(self) -> list[dict[str, Any]]:
        return [i.status() for r in self.apis.values() for i in r.all_instances()]

    def endpoints(self) -> list[tuple[str, str, str, str]]:
        """(api id, kind, path, stream) of every endpoint of the active APIs."""
        return [(r.api.id, kind, path, stream) for r in self.apis.values() if r.api.active
                for kind, path, stream in r.endpoints()]
