"""`--watch`: poll the API definition files once a second and apply what changed, live.

A changed or added file is loaded and put (it replaces the API with its id); a removed file's API is
deleted. A file that no longer loads is reported and changes nothing (the API keeps running as it was).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Iterable

from engine.errors import ConfigError

from .api_runtime import BuildError
from .apis import ApiDefinition, api_files, load_api

if TYPE_CHECKING:
    from .gateway import Gateway

Stamp = tuple[int, int]


def _stamp(file: str) -> Stamp | None:
    try:
        st = os.stat(file)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ApiWatcher:
    def __init__(self, gateway: "Gateway", paths: Iterable[str], initial: Iterable[ApiDefinition] = (),
                 interval: float = 1.0, logger: logging.Logger | None = None) -> None:
        self.gateway = gateway
        self.paths = list(paths)
        self.interval = interval
        self.log = logger or gateway.log
        self.stamps: dict[str, Stamp | None] = {}
        self.ids: dict[str, str] = {}  # file → id of the API it defines
        for api in initial:
            if os.path.isfile(api.source):
                self.ids[api.source] = api.id
        for file in api_files(self.paths):
            self.stamps[file] = _stamp(file)
        self._task: asyncio.Task[None] | None = None
        self.changes = 0  # applied changes, for tests and status

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher keeps watching
                self.log.exception("watching API definitions failed")

    async def poll(self) -> None:
        current = {file: _stamp(file) for file in api_files(self.paths) if os.path.isfile(file)}
        for file in sorted(set(self.stamps) - set(current)):
            del self.stamps[file]
            api_id = self.ids.pop(file, None)
            if api_id is not None and await self.gateway.delete(api_id):
                self.changes += 1
                self.log.info("%s removed: API %s deleted", file, api_id)
        for file, stamp in sorted(current.items()):
            if self.stamps.get(file, "new") == stamp:
                continue
            self.stamps[file] = stamp
            await self._load(file)

    async def _load(self, file: str) -> None:
        try:
            api = load_api(file)
        except ConfigError as exc:
            for diagnostic in exc.diagnostics:
                self.log.error("%s", diagnostic)
            self.log.error("%s: not applied (the API keeps running as it was)", file)
            return
        owner = next((f for f, i in self.ids.items() if i == api.id and f != file), None)
        if owner is not None:
            self.log.error('%s: not applied: API id "%s" is already defined by %s', file, api.id, owner)
            return
        for warning in api.warnings:
            self.log.warning("%s", warning)
        previous = self.ids.get(file)
        try:
            await self.gateway.put(api)
        except ConfigError as exc:
            for diagnostic in exc.diagnostics:
                self.log.error("%s", diagnostic)
            return
        except BuildError as exc:
            self.log.error("%s: not applied: %s", file, exc)
            return
        self.ids[file] = api.id
        if previous is not None and previous != api.id:
            await self.gateway.delete(previous)
        self.changes += 1
        self.log.info("%s: API %s applied", file, api.id)
