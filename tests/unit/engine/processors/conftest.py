"""Helpers for processor tests: build processors from YAML, run them on a batch, capture log records."""

from __future__ import annotations

import importlib
import logging
import textwrap
from typing import Any, Iterator

import pytest

from engine.component import Processor
from engine.message import Batch, Message
from engine.runtime.context import BuildContext
from engine.runtime.inproc import InprocHub
from engine.runtime.processors import apply_processors
from tests.helpers import load


def stream_config(processors: str, extra: str = "") -> str:
    """A whole stream config (inproc in → PROCESSORS → inproc out), PROCESSORS being the YAML list items."""
    body = textwrap.indent(textwrap.dedent(processors).strip("\n"), "    ")
    return (f"input:\n  inproc: in\npipeline:\n  processors:\n{body}\noutput:\n  inproc: out\n"
            + textwrap.dedent(extra))


def build(processors: str, extra: str = "") -> list[Processor]:
    loaded = load(stream_config(processors, extra))
    ctx = BuildContext(stream="main", resources={}, hub=InprocHub(), rate_limit_configs=loaded.rate_limits)
    return ctx.build_processors(loaded.streams["main"].processors)


def messages(*payloads: Any) -> Batch:
    return [p if isinstance(p, Message) else Message(p if isinstance(p, bytes) else str(p).encode())
            for p in payloads]


async def process(processors: list[Processor], batch: Batch) -> Batch:
    return await apply_processors(processors, batch)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]


@pytest.fixture
def logs() -> Iterator[Records]:
    """Every record logged under the `asyncgate` logger (at any level) while the test runs."""
    logger = logging.getLogger("asyncgate")
    handler = Records()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def plugin(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """plugin(source) → a module name: SOURCE written to tmp_path under a name unique to this test, importable."""
    monkeypatch.syspath_prepend(str(tmp_path))
    counter = iter(range(1000))

    def write(source: str) -> str:
        safe = "".join(c if c.isalnum() else "_" for c in request.node.name)
        name = f"plug_{safe}_{next(counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    return write
