"""Shared fixtures: an event loop runner, and both implementations of each engine._fast module."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

import pytest
import uvloop

from engine import _fast
from tests.twins import twin_params

T = TypeVar("T")


@pytest.fixture
def run() -> Callable[..., Any]:
    """run(coro, timeout=10): run a coroutine on a fresh uvloop loop, failing if it takes longer."""

    def runner(coro: Awaitable[T], timeout: float = 10.0) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(coro, timeout)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            return r.run(bounded())

    return runner


@pytest.fixture(params=twin_params("framing"))
def framing_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each implementation of engine._fast.framing in turn, installed as the one in use."""
    monkeypatch.setattr(_fast, "framing", request.param)
    import engine.components.codec as codec

    monkeypatch.setattr(codec, "framing", request.param)
    return request.param
