"""The `sleep` processor: per-message (interpolated) durations, bad values flagged not fatal."""

from __future__ import annotations

import time

import pytest

from engine.errors import ComponentError, ConfigError
from engine.message import Message
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config


def test_static_duration_sleeps_once_per_message(run) -> None:
    procs = build("""
        - sleep:
            duration: 50ms
    """)
    batch = messages("a", "b", "c")
    start = time.monotonic()
    out = run(process(procs, batch))
    assert time.monotonic() - start >= 0.14  # 3 × 50ms, lower bound only
    assert out == batch and all(a is b for a, b in zip(out, batch)) and all(m.error is None for m in out)


def test_interpolated_duration_per_message_and_bad_values_are_flagged(run) -> None:
    procs = build("""
        - sleep:
            duration: '${! meta("wait") }'
    """)
    batch = [Message(b"a", {"wait": "60ms"}), Message(b"b", {"wait": "soon"}), Message(b"c", {"wait": "40ms"}),
             Message(b"d")]
    start = time.monotonic()
    out = run(process(procs, batch))
    assert time.monotonic() - start >= 0.09
    assert [m.raw for m in out] == [b"a", b"b", b"c", b"d"]
    assert out[0].error is None and out[2].error is None
    assert out[1].error is not None and '"soon" is not a duration' in out[1].error
    assert out[3].error is not None and out[3].error.startswith("sleep duration: ")  # no such metadata


def test_zero_duration_does_not_wait(run) -> None:
    out = run(process(build("- sleep: {duration: '0s'}"), messages("a")), timeout=2)
    assert [m.raw for m in out] == [b"a"]


def test_bad_static_duration_fails_the_build_and_missing_duration_is_located() -> None:
    with pytest.raises(ComponentError, match=r'sleep: cannot create: "forever" is not a duration'):
        build("- sleep: {duration: forever}")
    with pytest.raises(ConfigError, match=r'test\.yaml:5:14: missing required field "duration"'):
        load(stream_config("- sleep: {}"))


def test_end_to_end_errors_reach_catch(run, logs) -> None:
    got = run(run_config(stream_config("""
        - sleep:
            duration: '${! content() }'
        - catch:
          - sleep:
              duration: 1ms
          - log:
              message: 'bad sleep: ${! error() }'
    """), feed=["10ms", "nope"], expect=2))
    assert [(m.raw, m.error) for m in got] == [(b"10ms", None), (b"nope", None)]
    assert [m for m in logs.messages() if m.startswith("bad sleep")] == [
        'bad sleep: sleep duration: "nope" is not a duration (expected e.g. "500ms", "10s", "1m30s")']
