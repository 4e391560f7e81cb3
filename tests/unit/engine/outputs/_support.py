"""Running configs with several `inproc` outputs, and Python functions for `python` processors."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from engine.message import Batch, Message
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager
from tests.helpers import load

MODULE = __name__
NACK = "nacked by the test"
_ids = itertools.count(1)


def counter() -> str:
    """A counter name no other test uses, for `count(...)` in generate mappings."""
    return f"outputs_test_{next(_ids)}"


def generate(count: int, batch_size: int = 1) -> str:
    """A finite `generate` input of payloads m1, m2, ... (it redelivers what is nacked)."""
    return (f'input:\n  generate:\n    count: {count}\n    batch_size: {batch_size}\n    interval: ""\n'
            f"    mapping: 'root = \"m\" + count(\"{counter()}\").string()'\n")


def names(n: int, start: int = 1) -> list[bytes]:
    return [f"m{i}".encode() for i in range(start, start + n)]


def raws(msgs: list[Message]) -> list[bytes]:
    return [m.raw for m in msgs]


def flat(batches: list[Batch]) -> list[Message]:
    return [m for b in batches for m in b]


class Pipes:
    """Collectors on several inproc pipes: each accepted batch is recorded (per pipe, and in
    one shared `events` list of (pipe, payload)); the first `fail[pipe]` batches are nacked."""

    def __init__(self, hub: InprocHub, names: list[str], fail: dict[str, int] | None = None,
                 hold: dict[str, asyncio.Event] | None = None) -> None:
        self.hub = hub
        self.batches: dict[str, list[Batch]] = {n: [] for n in names}
        self.events: list[tuple[str, bytes]] = []
        self.nacked: dict[str, int] = {n: 0 for n in names}
        self.fail = dict(fail or {})
        self.hold = dict(hold or {})  # pipe -> event: its first batch is acked only once the event is set
        self._changed = asyncio.Event()
        self._tasks = [asyncio.ensure_future(self._run(n)) for n in names]

    def got(self, name: str) -> list[Message]:
        return flat(self.batches[name])

    async def _run(self, name: str) -> None:
        while True:
            batch, ack = await self.hub.receive(name)
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                self.nacked[name] += 1
                self._changed.set()
                await ack(RuntimeError(NACK))
                continue
            self.batches[name].append(batch)
            self.events.extend((name, m.raw) for m in batch)
            self._changed.set()
            hold = self.hold.pop(name, None)
            if hold is not None:
                await hold.wait()
            await ack(None)

    async def wait_for(self, condition: Any, timeout: float = 5.0) -> None:
        """Wait until condition() is true (re-checked whenever a pipe receives something)."""
        async def waiting() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(waiting(), timeout)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Running:
    """A Manager running a config, with collectors on the named inproc pipes."""

    def __init__(self, yaml_text: str, pipes: list[str], **kw: Any) -> None:
        self.manager = Manager(load(yaml_text))
        self.manager.build()
        self.hub = self.manager.hub
        self.pipes = Pipes(self.hub, pipes, **kw)
        self.task = asyncio.ensure_future(self.manager.run())

    def output(self, stream: str = "main") -> Any:
        """The top output component of a stream (unwrapped from its OutputRunner)."""
        return self.manager.streams[stream].output.output

    async def finished(self, timeout: float = 5.0) -> bool:
        """Wait for a finite input to be delivered completely; what Manager.run returned."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.task), timeout)
        finally:
            await self.pipes.stop()

    async def stop(self, timeout: float = 5.0) -> bool:
        self.manager.stop()
        return await self.finished(timeout)


async def to_end(yaml_text: str, pipes: list[str], **kw: Any) -> Pipes:
    """Run a config with a finite input to its end; assert everything was delivered."""
    running = Running(yaml_text, pipes, **kw)
    assert await running.finished() is True
    return running.pipes


async def send(hub: InprocHub, payloads: list[Any], pipe: str = "in") -> Batch:
    """Send one batch to the `inproc` input PIPE; returns it once delivered (raises if nacked)."""
    batch = [p if isinstance(p, Message) else Message(p if isinstance(p, bytes) else str(p).encode())
             for p in payloads]
    await hub.send(pipe, batch)
    return batch


# -- functions for `python` processors -------------------------------------------------------
def flag_bad(msg: Message) -> Message:
    """Errors (flags) messages whose payload contains "bad"."""
    if b"bad" in msg.raw:
        raise ValueError(f"{msg.raw.decode()} is bad")
    return msg


_flagged: set[tuple[str, bytes]] = set()


def flag_once(msg: Message, key: str = "", bad: list[str] | None = None) -> Message:
    """Errors the messages whose payload is in BAD, the first time only (per KEY)."""
    if msg.raw.decode() in (bad or []) and (key, msg.raw) not in _flagged:
        _flagged.add((key, msg.raw))
        raise ValueError(f"{msg.raw.decode()} failed once")
    return msg


def tag(msg: Message, name: str = "") -> Message:
    """Changes a message in place: payload suffixed with -NAME, metadata `tag`."""
    msg.set_raw(msg.raw + f"-{name}".encode())
    msg.meta["tag"] = name
    return msg


def python(function: str, **args: Any) -> str:
    """A `python` processor (flow YAML) calling FUNCTION of this module."""
    body = f'{{function: "{MODULE}:{function}"'
    if args:
        import json

        body += f", args: {json.dumps(args)}"
    return body + "}"
