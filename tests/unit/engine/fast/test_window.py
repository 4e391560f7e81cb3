"""engine._fast.window: the Cython ring buffer and its deque twin log, expire and report the same times
(one body, both implementations), and the limiters built on it keep their exact sliding windows."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import _fast
from engine._fast import _window_py
from tests.twins import twin_params


IMPLS = twin_params("window")


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_expire_drops_what_left_the_window(impl: Any) -> None:
    w = impl.SlidingWindow(2)
    w.add(1.0)
    w.add(2.0, 3)
    w.add(9.0, 0)
    assert len(w) == 4
    assert w.expire(0.5) == 4
    assert w.expire(1.0) == 3  # at the cutoff: out, the window is (now - per, now]
    assert w.until_leaves(0, 10.0, 5.0) == 7.0
    assert w.until_leaves(2, 1.0, 2.5) == 0.5
    assert w.expire(2.0) == 0


def test_grows_past_its_capacity_and_keeps_the_order(impl: Any) -> None:
    w = impl.SlidingWindow(1)
    for t in range(5):
        w.add(float(t))
    w.expire(1.0)  # the ring's start moves, then it grows around the end
    for t in range(5, 40):
        w.add(float(t))
    assert len(w) == 38
    assert [w.until_leaves(i, 0.0, 0.0) for i in range(len(w))] == [float(t) for t in range(2, 40)]


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_no_such_entry(impl: Any, index: int) -> None:
    w = impl.SlidingWindow()
    w.add(1.0, 3)
    with pytest.raises(IndexError):
        w.until_leaves(index, 1.0, 1.0)


def test_module_in_use_matches_environment() -> None:
    if _fast.USE_EXTENSIONS:
        pytest.importorskip("engine._fast._window")
        assert _fast.window is not _window_py
    else:
        assert _fast.window is _window_py


times = st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, -0.0, 0.1, 0.2, 0.30000000000000004, 1e-9])
steps = st.lists(st.tuples(st.sampled_from(["add", "expire", "leaves"]), times, st.integers(-2, 5),
                           st.floats(0, 1e3, allow_nan=False)), max_size=80)


@settings(max_examples=400, deadline=None)
@given(steps=steps, capacity=st.integers(0, 4))
def test_twins_agree_on_random_sequences(steps: list[tuple[str, float, int, float]], capacity: int) -> None:
    impls = [p.values[0] for p in IMPLS if p.values[0] is not None]
    windows = [i.SlidingWindow(capacity) for i in impls]
    for op, t, n, per in steps:
        results = []
        for w in windows:
            if op == "add":
                results.append(w.add(t, n))
            elif op == "expire":
                results.append(w.expire(t))
            else:
                try:
                    results.append(w.until_leaves(n, per, t))
                except IndexError:
                    results.append("IndexError")
            results[-1] = (results[-1], len(w))
        assert all(r == results[0] for r in results), (op, t, n, per, results)


# -- the limiters on it, against a reference log kept here ------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=60),
       rate=st.sampled_from([1, 2, 3, 2.5, 10]), per=st.sampled_from([0.5, 1.0, 2.0, 0.1]))
def test_memory_limiter_verdicts_match_a_reference_sliding_log(gaps: list[float], rate: float, per: float) -> None:
    from gateway_adapter.limits import Limit, MemoryLimiter

    clock = Clock()
    limiter = MemoryLimiter(clock)
    limit = Limit("api:x", rate, per)
    log: list[float] = []
    for gap in gaps:
        clock.now += gap
        now = clock.now
        log = [t for t in log if not t <= now - per]
        verdict = limiter.hit_now([limit])
        if len(log) >= rate:
            wait = log[len(log) - math.ceil(rate)] + per - now
            assert verdict == verdict.__class__(False, wait, "api:x", 0, rate, wait)
        else:
            log.append(now)
            assert verdict.allowed and verdict.remaining == int(rate) - len(log)
            assert verdict.reset == log[0] + per - now


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0, 2, allow_nan=False), st.integers(0, 6)), min_size=1, max_size=50),
       rate=st.integers(1, 8), per=st.sampled_from([0.5, 1.0, 3.0]))
def test_message_window_matches_a_reference_sliding_log(steps: list[tuple[float, int]], rate: int, per: float) -> None:
    from engine.runtime.message_rate import MessageRate, MessageWindow

    window = MessageWindow(MessageRate(rate, per))
    log: list[float] = []
    now = 0.0
    for gap, count in steps:
        now += gap
        log = [t for t in log if not t <= now - per]
        room = rate - len(log)
        expected_wait = 0.0 if room > 0 else log[len(log) - rate] + per - now
        assert window.wait(now) == expected_wait
        fit = min(count, room)
        log += [now] * max(fit, 0)
        assert window.take(count, now) == fit
