"""engine._fast.fanout: the compiled dispatch loop and its pure-Python twin write to the same subscribers,
pass over and report the same ones, and count the same deliveries (one body, both implementations)."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import _fast
from tests.twins import twin_params


IMPLS = twin_params("fanout")


class Sub:
    """A subscriber as the dispatch sees it; `outcome` says what its write does."""

    __slots__ = ("buffer", "bytes_written", "delivered", "got", "outcome", "window")

    def __init__(self, outcome: str, backlog: bool, window: bool) -> None:
        self.outcome = outcome
        self.buffer = collections.deque() if backlog else None
        self.window = object() if window else None
        self.delivered = 0
        self.bytes_written = 0
        self.got: list[bytes] = []

    def write(self, data: bytes) -> bool:
        if self.outcome == "raise":
            raise ConnectionResetError("closed")
        if self.outcome == "refuse":
            return False
        self.got.append(data)
        return True


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_writes_the_same_bytes_to_each_caught_up_subscriber(impl: Any) -> None:
    subs = [Sub("take", False, False), Sub("refuse", False, False), Sub("raise", False, False),
            Sub("take", True, False), Sub("take", False, True), Sub("take", False, False)]
    data = b"\x82\x01a\x82\x01b"
    written, skipped, refused, failed = impl.dispatch(subs, data, 2)
    assert written == 2
    assert skipped == [subs[3], subs[4]] and refused == [subs[1]] and failed == [subs[2]]
    assert subs[0].got[0] is data and subs[5].got[0] is data
    assert [s.delivered for s in subs] == [2, 0, 0, 0, 0, 2]
    assert [s.bytes_written for s in subs] == [6, 0, 0, 0, 0, 6]
    assert not subs[3].got and not subs[4].got


def test_exceptions_that_are_not_errors_propagate(impl: Any) -> None:
    class Cancelled(Sub):
        __slots__ = ()

        def write(self, data: bytes) -> bool:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        impl.dispatch([Sub("take", False, False), Cancelled("take", False, False)], b"x", 1)


SUBS = st.lists(st.tuples(st.sampled_from(["take", "refuse", "raise"]), st.booleans(), st.booleans()), max_size=30)


@settings(max_examples=200, deadline=None)
@given(specs=SUBS, data=st.binary(max_size=64), count=st.integers(1, 1024))
def test_twins_agree(specs: list[tuple[str, bool, bool]], data: bytes, count: int) -> None:
    outcomes = []
    for impl in (p.values[0] for p in IMPLS if p.values[0] is not None):
        subs = [Sub(*spec) for spec in specs]
        written, skipped, refused, failed = impl.dispatch(subs, data, count)
        index = {id(s): i for i, s in enumerate(subs)}
        outcomes.append((written, [index[id(s)] for s in skipped], [index[id(s)] for s in refused],
                         [index[id(s)] for s in failed], [(s.delivered, s.got, s.bytes_written) for s in subs]))
    assert all(o == outcomes[0] for o in outcomes)
    written, skipped, refused, failed, per_sub = outcomes[0]
    took = [i for i, (delivered, _, _) in enumerate(per_sub) if delivered]
    assert written == len(took) and all(per_sub[i] == (count, [data], len(data)) for i in took)
    assert sorted(skipped + refused + failed + took) == list(range(len(specs)))  # each in exactly one
    assert skipped == [i for i, (_, backlog, window) in enumerate(specs) if backlog or window]
