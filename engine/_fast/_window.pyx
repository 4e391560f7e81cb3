# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A sliding window of event times: a ring buffer of doubles (see protocols.SlidingWindow)."""

from cpython cimport array
import array

cdef array.array _DOUBLES = array.array("d")


cdef class SlidingWindow:
    cdef array.array _store   # owns the ring buffer
    cdef double[::1] _times   # ... seen through a typed memoryview
    cdef Py_ssize_t _head, _count, _cap

    def __init__(self, Py_ssize_t capacity=8):
        self._cap = min(max(capacity, 1), 1024)  # a hint: a huge rate's window grows as it fills
        self._store = array.clone(_DOUBLES, self._cap, zero=False)
        self._times = self._store
        self._head = 0
        self._count = 0

    def __len__(self):
        return self._count

    cdef void _grow(self, Py_ssize_t need):
        cdef Py_ssize_t cap = self._cap, i
        cdef array.array store
        cdef double[::1] times
        while cap < need:
            cap *= 2
        store = array.clone(_DOUBLES, cap, zero=False)
        times = store
        for i in range(self._count):
            times[i] = self._times[(self._head + i) % self._cap]
        self._store, self._times, self._cap, self._head = store, times, cap, 0

    cpdef Py_ssize_t expire(self, double cutoff):
        while self._count and self._times[self._head] <= cutoff:
            self._head = (self._head + 1) % self._cap
            self._count -= 1
        return self._count

    cpdef void add(self, double when, Py_ssize_t count=1):
        cdef Py_ssize_t i
        if count <= 0:
            return
        if self._count + count > self._cap:
            self._grow(self._count + count)
        for i in range(count):
            self._times[(self._head + self._count) % self._cap] = when
            self._count += 1

    cpdef double until_leaves(self, Py_ssize_t index, double per, double now) except? -1.0:
        if not 0 <= index < self._count:
            raise IndexError("no such entry in the window")
        return self._times[(self._head + index) % self._cap] + per - now
