"""The `local` rate limit resource and the `rate_limit` processor: fixed windows, backpressure, clean errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.components.rate_limits.local import LocalRateLimit
from engine.errors import ComponentError, ConfigError
from engine.runtime.context import BuildContext
from engine.runtime.inproc import InprocHub
from engine.runtime.manager import Manager
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config

RESOURCES = """
rate_limit_resources:
  - label: five_fast
    local:
      count: 5
      interval: 200ms
  - label: defaults
    local: {}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fixed_window_tokens(run) -> None:
    clock = Clock()
    rl = LocalRateLimit(2, 1.0, clock)
    assert run(rl.access()) == 0.0
    clock.now += 0.25
    assert run(rl.access()) == 0.0
    assert run(rl.access()) == pytest.approx(0.75)  # window began at the first access
    clock.now += 0.5
    assert run(rl.access()) == pytest.approx(0.25)  # a refused access does not use a token
    clock.now += 0.25
    assert run(rl.access()) == 0.0  # window over: refilled, one token used
    assert run(rl.access()) == 0.0
    assert run(rl.access()) == pytest.approx(1.0)
    clock.now += 5
    assert [run(rl.access()) for _ in range(2)] == [0.0, 0.0]


def test_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="count must be larger than zero"):
        LocalRateLimit(0, 1.0)


def test_defaults_and_sharing_by_label() -> None:
    loaded = load(stream_config("""
        - rate_limit: {resource: defaults}
        - rate_limit: {resource: defaults}
    """, RESOURCES))
    ctx = BuildContext(stream="main", resources={}, hub=InprocHub(), rate_limit_configs=loaded.rate_limits)
    first, second = ctx.build_processors(loaded.streams["main"].processors)
    assert first.limiter is second.limiter is ctx.rate_limit("defaults")  # type: ignore[attr-defined]
    assert (first.limiter.size, first.limiter.period) == (1000, 1.0)  # type: ignore[attr-defined]


def test_processor_delays_but_never_drops(run) -> None:
    procs = build("- rate_limit: {resource: five_fast}", RESOURCES)
    batch = messages(*range(10))
    start = time.monotonic()
    out = run(process(procs, batch))
    assert time.monotonic() - start >= 0.18  # 5 now, 5 in the next window
    assert out == batch and all(m.error is None for m in out)


def test_end_to_end_rate_is_shared_across_streams(run) -> None:
    config = textwrap.dedent("""
        streams:
          one:
            input: {inproc: in}
            pipeline: {processors: [{rate_limit: {resource: five_fast}}]}
            output: {inproc: out}
          two:
            input: {inproc: in2}
            pipeline: {processors: [{rate_limit: {resource: five_fast}}]}
            output: {inproc: out}
    """) + RESOURCES

    async def scenario() -> float:
        import asyncio

        from engine.message import Message
        from tests.helpers import collect

        manager = Manager(load(config))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        start = time.monotonic()
        feeders = [asyncio.ensure_future(manager.hub.send(pipe, [Message(str(i).encode())]))
                   for i in range(5) for pipe in ("in", "in2")]
        got = await collect(manager.hub, "out", 10)
        elapsed = time.monotonic() - start
        await asyncio.gather(*feeders)
        manager.stop()
        await running
        assert sorted(m.raw for m in got) == sorted(str(i).encode() for i in range(5) for _ in range(2))
        return elapsed

    assert run(scenario()) >= 0.18  # ten messages through one shared budget of five per 200ms


def test_run_config_ten_messages_take_a_window(run) -> None:
    start = time.monotonic()
    got = run(run_config(stream_config("- rate_limit: {resource: five_fast}", RESOURCES),
                         feed=list(range(10)), expect=10))
    assert time.monotonic() - start >= 0.18
    assert [m.raw for m in got] == [str(i).encode() for i in range(10)]


def test_unknown_resource_is_a_clean_build_error() -> None:
    manager = Manager(load(stream_config("- rate_limit: {resource: five_fats}", RESOURCES)))
    with pytest.raises(ComponentError) as info:
        manager.build()
    assert str(info.value) == (
        'processor rate_limit at pipeline.processors.0.rate_limit: cannot create: no rate_limit_resources entry '
        'labelled "five_fats" (defined: defaults, five_fast) (did you mean "five_fast"?)')


def test_misconfigured_resource_names_the_resource() -> None:
    with pytest.raises(ComponentError) as info:
        build("- rate_limit: {resource: zero}", """
            rate_limit_resources:
              - label: zero
                local: {count: 0}
        """)
    assert str(info.value) == ('rate_limit "zero" at rate_limit_resources.0.local: cannot create: '
                               "count must be larger than zero, got 0")


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("- rate_limit: {}", """
            rate_limit_resources:
              - local: {count: many, intervl: 1s}
              - label: bad label
                local: {}
              - label: ok
                lokal: {}
        """))
    text = str(info.value)
    assert 'test.yaml:5:19: missing required field "resource" in pipeline.processors.0.rate_limit' in text
    assert "test.yaml:10:20: count: expected an integer, got a string ('many')" in text
    assert 'test.yaml:10:26: unknown field "intervl"' in text and 'did you mean "interval"' in text
    assert "test.yaml:10:5: a rate limit resource needs a label" in text
    assert 'test.yaml:11:12: label "bad label" must contain only' in text
    assert 'test.yaml:14:5: unknown rate_limit type "lokal" (did you mean "local"?)' in text


def test_cli_reports_an_unknown_resource_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "stream.yaml"
    cfg.write_text("input:\n  stdin: {}\npipeline:\n  processors:\n    - rate_limit: {resource: nope}\n"
                   "output:\n  stdout: {}\n" + RESOURCES)
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(cfg)], input=b"", capture_output=True,
                          timeout=30, cwd=Path(__file__).resolve().parents[4])
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.decode().strip() == (
        f'{cfg}: processor rate_limit at pipeline.processors.0.rate_limit: cannot create: no rate_limit_resources '
        'entry labelled "nope" (defined: defaults, five_fast)')


def test_cli_runs_with_a_rate_limit(tmp_path: Path) -> None:
    cfg = tmp_path / "stream.yaml"
    cfg.write_text("input:\n  stdin: {}\npipeline:\n  processors:\n    - rate_limit: {resource: five_fast}\n"
                   "output:\n  stdout: {}\n" + RESOURCES)
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(cfg)],
                          input=b"".join(b"%d\n" % i for i in range(7)), capture_output=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[4])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"".join(b"%d\n" % i for i in range(7))
