"""Running a config to its end inside a test, and building one component on its own."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engine import registry
from engine.message import Batch, Message
from engine.runtime.context import BuildContext
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager
from tests.helpers import load


async def run_to_end(yaml_text: str, pipe: str = "out", fail: int = 0) -> tuple[bool, list[Batch]]:
    """Run a config whose finite input ends by itself, acking every batch its `inproc: out` output sends.

    The first FAIL batches are nacked (not recorded). Returns what Manager.run returned and the
    batches received, in order."""
    manager = Manager(load(yaml_text))
    manager.build()
    batches: list[Batch] = []

    async def collector() -> None:
        nonlocal fail
        while True:
            batch, ack = await manager.hub.receive(pipe)
            if fail > 0:
                fail -= 1
                await ack(RuntimeError("nacked by the test"))
                continue
            batches.append(batch)
            await ack(None)

    collecting = asyncio.ensure_future(collector())
    try:
        delivered = await manager.run()
    finally:
        collecting.cancel()
        await asyncio.gather(collecting, return_exceptions=True)
    return delivered, batches


def payloads(batches: list[Batch]) -> list[bytes]:
    return [m.raw for batch in batches for m in batch]


def build(kind: str, yaml_body: str, *, hub: InprocHub | None = None) -> Any:
    """Build the input or output of `kind: <yaml_body>` alone (unwrapped), bound to its config block."""
    other = "output:\n  drop: {}\n" if kind == "input" else "input:\n  stdin: {}\n"
    config = load(f"{kind}:\n{_indent(yaml_body)}\n{other}")
    cc = getattr(config.streams["main"], kind)
    ctx = BuildContext(stream="main", resources={}, hub=hub or InprocHub())
    component = registry.get(kind, cc.type).factory(cc.config, ctx)  # type: ignore[union-attr]
    component.bind(cc, ctx)
    return component


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.strip("\n").splitlines())


class LogWaiter(logging.Handler):
    """Sets an asyncio event once a record containing TEXT is logged under `asyncgate`."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        if self.text in message:
            self.seen.set()

    def __enter__(self) -> "LogWaiter":  # noqa: UP037, PYI034
        logging.getLogger("asyncgate").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("asyncgate").removeHandler(self)


def msg(raw: bytes, **meta: Any) -> Message:
    return Message(raw, dict(meta) if meta else None)
