"""Builds the streams of a loaded config and runs them until they end or are told to stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..config.loader import LoadedConfig
from .context import BuildContext
from .http import RouteTable
from .inproc import InprocHub
from .stream import Stream


class Manager:
    def __init__(self, config: LoadedConfig, logger: logging.Logger | None = None,
                 hub: InprocHub | None = None, routes: RouteTable | None = None) -> None:
        self.config = config
        self.log = logger or logging.getLogger("asyncgate")
        self.hub = hub or InprocHub()
        self.routes = routes if routes is not None else RouteTable()
        self.resources: dict[str, Any] = {}
        self.streams: dict[str, Stream] = {}
        self._stopping = False

    def build(self) -> None:
        """Create every component; raises ComponentError naming the block that could not be built."""
        for name, sc in self.config.streams.items():
            ctx = BuildContext(stream=name, resources=self.resources, hub=self.hub,
                               rate_limit_configs=self.config.rate_limits, logger=self.log,
                               http=self.config.http, routes=self.routes)
            self.streams[name] = Stream(
                name,
                ctx.build_input(sc.input),
                ctx.build_processors(sc.processors),
                ctx.build_output(sc.output),
                threads=sc.threads,
                logger=self.log.getChild(name),
            )

    async def run(self) -> bool:
        """Connect and run all streams; True when every stream delivered everything it read."""
        if not self.streams:
            self.build()
        for stream in self.streams.values():
            await stream.connect()
        results = await asyncio.gather(
            *(stream.run(self.config.shutdown_timeout) for stream in self.streams.values()))
        for processor_or_resource in self.resources.values():
            close = getattr(processor_or_resource, "close", None)
            if close is not None:
                await close()
        return all(results)

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.log.info("stopping: no new reads, draining in-flight messages")
        loop = asyncio.get_running_loop()
        delay = self.config.shutdown_delay
        if delay:
            loop.call_later(delay, self._stop_streams)
        else:
            self._stop_streams()

    def _stop_streams(self) -> None:
        for stream in self.streams.values():
            stream.stop()
