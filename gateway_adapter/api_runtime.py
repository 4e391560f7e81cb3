"""One API being served: its stream instances and the routing of a request (below the listen path) to one.

Every endpoint path an API serves belongs to exactly one of its streams (two streams on one path is an
error when the API is applied). A static stream has one instance, built when the API is applied; a stream
whose config mentions context variables is a template: a request renders it with its own values and is
served by the instance for that rendering, created on first use and retired after `idle_timeout` with no
request or connection (at once when the rendering includes the per-request `request_id`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from engine.config.loader import LoadedConfig
from engine.errors import ComponentError, ConfigError
from engine.runtime.http import Receive, Scope, Send, normalise
from engine.runtime.inproc import InprocHub
from engine.runtime.message_rate import MessageRate

from . import context_vars
from .apis import ApiDefinition
from .auth import Denial, authenticate, authorize, origin_denial
from .instance import StreamInstance
from .keys import KeyStore, Session
from .limits import Limit, Limiter, MemoryLimiter, Verdict, quota_counter
from .policies import PolicyStore
from .problems import deny, not_found
from .storage import UNAVAILABLE, UNAVAILABLE_RETRY_AFTER, StorageError
from .traffic import EXCHANGE, note

if TYPE_CHECKING:
    from .config import GatewayConfig

Key = tuple[tuple[str, str], ...]


class BuildError(Exception):
    """An API's streams cannot be built (component errors, endpoint paths served twice)."""

    def __init__(self, api: ApiDefinition, problems: list[str]) -> None:
        self.api = api
        self.problems = problems
        super().__init__(f"API {api.id} ({api.source}): " + "; ".join(problems))


def only_stream(loaded: LoadedConfig, name: str) -> LoadedConfig:
    return dataclasses.replace(loaded, streams={name: loaded.streams[name]})


class ApiRuntime:
    def __init__(self, api: ApiDefinition, config: "GatewayConfig", hub: InprocHub,
                 logger: logging.Logger, keys: KeyStore | None = None, limiter: Limiter | None = None,
                 policies: PolicyStore | None = None) -> None:
        self.api = api
        self.keys: KeyStore = keys if keys is not None else KeyStore()
        self.policies = policies if policies is not None else PolicyStore()
        self.limiter: Limiter = limiter if limiter is not None else MemoryLimiter()
        self.config = config
        self.hub = hub
        self.log = logger
        self.static: dict[str, StreamInstance] = {}
        self.templates: dict[str, tuple[str, ...]] = {}  # dynamic stream → the variables it mentions
        self.paths: dict[tuple[str, str], str] = {}  # (kind, endpoint path) → stream
        self.instances: dict[tuple[str, Key], StreamInstance] = {}
        self.probes: dict[str, StreamInstance] = {}  # templates built unrendered: which endpoints they serve
        self._retiring: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self.prepared = False
        self.closed = False
        self.tracer: Any = None  # set by the gateway when tracing is configured: spans per stream stage
        self._raw_paths: dict[str, bytes] = {}  # endpoint path → its raw_path
        self._api_limit = Limit(f"api:{api.id}", *api.rate_limit) if api.rate_limit is not None else None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Build the static instances and probe the templates' endpoints; raise BuildError on any problem."""
        if self.prepared:
            return
        problems: list[str] = []
        for name in self.api.streams.streams:
            variables = context_vars.stream_variables(self.api, name)
            config = only_stream(self.api.streams, name)
            if variables:
                # Built once unrendered, never run: which endpoints the template serves.
                instance = self._instance(name, config, hub=InprocHub())
            else:
                instance = self._instance(name, config)
            try:
                instance.build()
            except ComponentError as exc:
                problems.append(f"stream {name}: {exc}")
                continue
            for kind, path, _ in instance.routes.paths():
                other = self.paths.get((kind, path))
                if other is not None:
                    problems.append(f'streams "{other}" and "{name}" both serve the {kind} path {path}')
                else:
                    self.paths[(kind, path)] = name
            if variables:
                self.templates[name] = variables
                self.probes[name] = instance
            else:
                self.static[name] = instance
        if problems:
            raise BuildError(self.api, problems)
        self.prepared = True

    def start(self) -> None:
        self.prepare()
        for instance in self.static.values():
            instance.start()
        if self.templates and self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap())

    async def stop(self) -> None:
        """Stop every instance, each draining what it has in flight."""
        self.closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        instances = self.all_instances()
        self.instances.clear()
        await asyncio.gather(*(i.stop() for i in instances), *self._retiring, return_exceptions=True)

    async def close_clients(self, code: int, reason: str) -> None:
        for instance in self.all_instances():
            await instance.close_clients(code, reason)

    def all_instances(self) -> list[StreamInstance]:
        return [*self.static.values(), *self.instances.values()]

    def ready(self) -> list[str]:
        """The static instances that are not connected (empty when the API is ready)."""
        return [f"{i.name}: {i.state}" + (f" ({i.error})" if i.error else "")
                for i in self.static.values() if not i.ready.is_set() or i.state == "failed"]

    def endpoints(self) -> list[tuple[str, str, str]]:
        """(kind, path as clients see it, stream) of every endpoint."""
        base = self.api.prefix if self.api.strip else ""
        return sorted((kind, base + path, stream) for (kind, path), stream in self.paths.items())

    def endpoint_kinds(self) -> list[tuple[str, str, str, str]]:
        """(kind, path below the listen path, stream, endpoint kind: post, ws, stream, poll) of each endpoint."""
        found = []
        for name, instance in [*self.static.items(), *self.probes.items()]:
            for component in instance.http_components():
                for component_kind, path in getattr(component, "endpoints", []):
                    kind = "websocket" if component_kind == "ws" else "http"
                    found.append((kind, normalise(path), name, component_kind))
        return sorted(found)

    # -- requests ----------------------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send, path: str, full_path: str,
                     root_path: str) -> None:
        """Serve a request whose path below the listen path is PATH (FULL_PATH includes the listen path)."""
        # Before anything else (no stream is touched, no upgrade accepted): the Origin, then the credentials.
        refused = origin_denial(scope, self.api.auth.origins)
        if refused is not None:
            await deny(scope, receive, send, 403, "Forbidden", refused)
            return
        try:  # storage that cannot answer refuses the request: never let it through unchecked
            identity = await authenticate(self.api.auth, scope, self.keys, self.api.id)
            if not isinstance(identity, Denial):
                note(scope, session=identity.session)
                identity = await authorize(identity, self.api.id, self.policies)
            if isinstance(identity, Denial):
                await deny(scope, receive, send, identity.status, identity.title, identity.detail,
                           headers=identity.headers(self.api.id))
                return
            limit_headers = await self._within_limits(scope, receive, send, identity.session)
        except StorageError:
            await deny(scope, receive, send, 503, "Service Unavailable", UNAVAILABLE, close_code=1013,
                       headers=[(b"retry-after", str(UNAVAILABLE_RETRY_AFTER).encode())])
            return
        if limit_headers is None:
            return
        kind = "websocket" if scope["type"] == "websocket" else "http"
        route = normalise(path)
        stream = self.paths.get((kind, route))
        if stream is None:
            other = "http" if kind == "websocket" else "websocket"
            detail = None
            if (other, route) in self.paths:
                detail = (f"{full_path} is a WebSocket endpoint; connect with a WebSocket client" if other == "websocket"
                          else f"{full_path} is not a WebSocket endpoint")
            await not_found(scope, receive, send, full_path, detail)
            return
        instance = self.static.get(stream)
        context: dict[str, str] = {}
        if instance is None:
            try:
                context, receive = await context_vars.request_values(self.templates[stream], scope, receive,
                                                                     full_path)
                instance = self.instance_for(stream, context)
            except context_vars.ContextValueError as exc:
                await deny(scope, receive, send, exc.status, "Bad Request" if exc.status == 400 else
                           "Content Too Large", str(exc))
                return
            except TooManyInstances as exc:
                await deny(scope, receive, send, 503, "Service Unavailable", str(exc), close_code=1013,
                           headers=[(b"retry-after", b"5")])
                return
            except (ConfigError, ComponentError) as exc:
                self.log.error("API %s stream %s: cannot start for %s: %s", self.api.id, stream, context, exc)
                await deny(scope, receive, send, 400, "Bad Request",
                           f"stream {stream} cannot run with this request's context values: "
                           + "; ".join(str(d) for d in getattr(exc, "diagnostics", [exc])), close_code=1008)
                return
        with instance.in_use():
            if not instance.ready.is_set() and not await instance.wait_ready(self.config.connect_timeout):
                reason = instance.error or f"state {instance.state}"
                await deny(scope, receive, send, 503, "Service Unavailable",
                           f"stream {stream} of API {self.api.id} is not connected ({reason})", close_code=1013,
                           headers=[(b"retry-after", b"1")])
                return
            app = instance.match(kind, route)
            if app is None or instance.state in ("stopping", "stopped"):
                await not_found(scope, receive, send, full_path)
                return
            note(scope, stream=stream)
            # The endpoint's view of the request, in place: the scope is this request's own (no copy of it
            # per request or connection); the gateway has read what it needed of the path above.
            scope["path"] = route
            raw_path = self._raw_paths.get(route)
            if raw_path is None:  # one per endpoint path: those are the only routes that get here
                raw_path = self._raw_paths[route] = quote(route).encode()
            scope["raw_path"] = raw_path
            scope["root_path"] = root_path
            served = scope["asyncgate"] = {"api": self.api.id, "stream": stream, "instance": instance.name,
                                           "context": context}
            message_rate = self._message_rate(identity.session)
            if message_rate is not None:  # for the http_server output's subscribers
                served["message_rate"] = message_rate
            if identity.session is not None:  # who the request authenticated as (never the key)
                served["auth"] = identity.context()
            if limit_headers:
                exchange = scope.get(EXCHANGE)
                if exchange is not None:  # its observed send adds them: no other wrapper around send
                    exchange.response_headers = limit_headers
                else:
                    send = with_headers(send, limit_headers)
            await app(scope, receive, send)

    async def _within_limits(self, scope: Scope, receive: Receive, send: Send, session: Session | None
                             ) -> list[tuple[bytes, bytes]] | None:
        """Count an authenticated request against the API's and its key's rate limits, then the key's quota;
        refuse it (429 with Retry-After, or 403 for a spent quota; before any upgrade) when over one. Returns
        the X-RateLimit headers of the tightest limit or quota for the response, or None once refused."""
        limits: list[Limit] = []
        if self._api_limit is not None:
            limits.append(self._api_limit)
        if session is not None and session.rate > 0 and session.per > 0 and not self.api.skip_rate_limit:
            limits.append(Limit(f"key:{session.id}", session.rate, session.per))
        tightest: Verdict | None = None
        if limits:
            tightest = await self.limiter.hit(limits)
            if not tightest.allowed:
                whose = "this API key" if tightest.counter.startswith("key:") else f"API {self.api.id}"
                retry = str(tightest.retry_after_header).encode()
                await deny(scope, receive, send, 429, "Too Many Requests",
                           f"rate limit of {whose} exceeded; retry after {tightest.retry_after_header}s",
                           close_code=1008, headers=[(b"retry-after", retry), *tightest.headers()])
                return None
        if session is not None and session.quota_max > 0 and not self.api.skip_quota:
            quota = await self.limiter.consume_quota(quota_counter(session.id), session.quota_max,
                                                     session.quota_renewal_rate)
            if not quota.allowed:
                note(scope, reason="quota")
                await deny(scope, receive, send, 403, "Forbidden", "quota exceeded for this API key",
                           close_code=1008, headers=quota.headers())
                return None
            if tightest is None or not tightest.limit or quota.remaining < tightest.remaining:
                tightest = quota
        return tightest.headers() if tightest is not None else []

    def _message_rate(self, session: Session | None) -> MessageRate | None:
        """The message rate of this request's subscriptions: its key's (or policies'), else the API's."""
        api_rate = self.api.message_rate
        if session is not None and session.message_rate > 0 and session.message_per > 0:
            return MessageRate(session.message_rate, session.message_per,
                               api_rate.action if api_rate is not None else "drop")
        return api_rate

    def instance_for(self, stream: str, values: dict[str, str]) -> StreamInstance:
        """The instance of template STREAM for these values, created (and started) on first use."""
        key: Key = tuple(sorted(values.items()))
        found = self.instances.get((stream, key))
        if found is not None and not found.done and found.state != "stopping":
            return found
        if found is not None:
            del self.instances[(stream, key)]
        count = sum(1 for (name, _) in self.instances if name == stream)
        limit = self.config.max_instances_per_stream
        if count >= limit:
            raise TooManyInstances(f"stream {stream} of API {self.api.id} already runs {count} instances "
                                   f"(max_instances_per_stream); try again later")
        config = context_vars.render(self.api, stream, values)
        idle = 0.0 if "request_id" in values else self.config.idle_timeout
        instance = self._instance(stream, config, key=key, idle_timeout=idle)
        instance.build()
        self.instances[(stream, key)] = instance
        instance.start()
        self.log.info("API %s: started %s", self.api.id, instance.name)
        return instance

    def _instance(self, stream: str, config: LoadedConfig, *, hub: InprocHub | None = None, key: Key = (),
                  idle_timeout: float | None = None) -> StreamInstance:
        return StreamInstance(self.api.id, stream, config, hub=hub or self.hub,
                              logger=self.log.getChild(f"{self.api.id}.{stream}"), key=key,
                              idle_timeout=idle_timeout, shutdown_timeout=self.config.shutdown_timeout,
                              latency=self.config.metrics["enabled"], tracer=self.tracer)

    async def _reap(self) -> None:
        """Retire dynamic instances that have been idle long enough (or have ended)."""
        interval = max(0.05, min(1.0, self.config.idle_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for ikey, instance in list(self.instances.items()):
                idle = instance.idle_timeout or 0.0
                expired = instance.active == 0 and now - instance.last_active >= idle
                if expired or instance.done:
                    del self.instances[ikey]
                    self.log.info("API %s: retiring %s (%s)", self.api.id, instance.name,
                                  instance.state if instance.done else "idle")
                    task = asyncio.ensure_future(instance.stop())
                    self._retiring.add(task)
                    task.add_done_callback(self._retiring.discard)


class TooManyInstances(Exception):
    pass


def with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """SEND, adding HEADERS to the response's start (or to a WebSocket handshake's accept)."""
    async def sending(message: Any) -> None:
        kind = message["type"]
        if kind in ("http.response.start", "websocket.accept"):
            message = {**message, "headers": [*message.get("headers", ()), *headers]}
        await send(message)

    return sending
