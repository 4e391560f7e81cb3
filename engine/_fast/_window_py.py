"""Pure-Python twin of _window.pyx: the window as a deque."""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    __slots__ = ("_times",)

    def __init__(self, capacity: int = 8) -> None:
        self._times: deque[float] = deque()

    def __len__(self) -> int:
        return len(self._times)

    def expire(self, cutoff: float) -> int:
        times = self._times
        while times and times[0] <= cutoff:
            times.popleft()
        return len(times)

    def add(self, when: float, count: int = 1) -> None:
        if count > 0:
            self._times.extend([when] * count)

    def until_leaves(self, index: int, per: float, now: float) -> float:
        if not 0 <= index < len(self._times):
            raise IndexError("no such entry in the window")
        return self._times[index] + per - now
