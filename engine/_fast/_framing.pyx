# cython: language_level=3, boundscheck=False, wraparound=False
"""Splitting input bytes into messages and framing messages into output bytes, in one pass each."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append
from libc.string cimport memchr, memcmp, memcpy


cdef inline Py_ssize_t _find(const char* buf, Py_ssize_t start, Py_ssize_t end,
                             const char* d, Py_ssize_t dlen) noexcept nogil:
    cdef const char* hit
    cdef Py_ssize_t i
    if dlen == 1:
        hit = <const char*>memchr(buf + start, d[0], end - start)
        return -1 if hit == NULL else hit - buf
    i = start
    while i + dlen <= end:
        hit = <const char*>memchr(buf + i, d[0], end - i - dlen + 1)
        if hit == NULL:
            return -1
        i = hit - buf
        if memcmp(buf + i, d, dlen) == 0:
            return i
        i += 1
    return -1


def split(bytes data, bytes delim, bint final, bint strip_cr):
    cdef const char* buf = PyBytes_AS_STRING(data)
    cdef const char* d = PyBytes_AS_STRING(delim)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), dlen = PyBytes_GET_SIZE(delim)
    cdef Py_ssize_t start = 0, stop, hit
    cdef list parts = []
    if dlen == 0:
        raise ValueError("empty delimiter")
    while True:
        hit = _find(buf, start, n, d, dlen)
        if hit < 0:
            break
        stop = hit
        if strip_cr and stop > start and buf[stop - 1] == b'\r':
            stop -= 1
        if stop > start:
            PyList_Append(parts, PyBytes_FromStringAndSize(buf + start, stop - start))
        start = hit + dlen
    if final:
        stop = n
        if strip_cr and stop > start and buf[stop - 1] == b'\r':
            stop -= 1
        if stop > start:
            PyList_Append(parts, PyBytes_FromStringAndSize(buf + start, stop - start))
        return parts, b""
    if start == 0:
        return parts, data
    return parts, PyBytes_FromStringAndSize(buf + start, n - start)


cdef inline bint _ends_with(bytes payload, const char* d, Py_ssize_t dlen) noexcept:
    cdef Py_ssize_t size = PyBytes_GET_SIZE(payload)
    return size >= dlen and memcmp(PyBytes_AS_STRING(payload) + size - dlen, d, dlen) == 0


def frame(list payloads, bytes delim):
    cdef Py_ssize_t total = 0, dlen = PyBytes_GET_SIZE(delim), size
    cdef const char* d = PyBytes_AS_STRING(delim)
    cdef bytes payload, out
    cdef char* dst
    if not payloads:
        return b""
    for payload in payloads:
        total += PyBytes_GET_SIZE(payload) + (0 if _ends_with(payload, d, dlen) else dlen)
    out = PyBytes_FromStringAndSize(NULL, total)
    dst = PyBytes_AS_STRING(out)
    for payload in payloads:
        size = PyBytes_GET_SIZE(payload)
        memcpy(dst, PyBytes_AS_STRING(payload), size)
        dst += size
        if not _ends_with(payload, d, dlen):
            memcpy(dst, d, dlen)
            dst += dlen
    return out


cdef extern from "string.h":
    const void* memrchr(const void* s, int c, size_t n) nogil


def pack_lines(bytes data, bint final):
    cdef const char* buf = PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), end = 0, start = 0, count = 0
    cdef const char* hit = <const char*>memrchr(buf, 10, n)
    cdef bytes body, rest
    if hit != NULL:
        end = hit - buf + 1
    # Every line must be there as split() cuts it: not empty, no \r before its newline.
    while start < end:
        hit = <const char*>memchr(buf + start, 10, end - start)
        if hit == buf + start or (hit - 1)[0] == b'\r':
            return None
        count += 1
        start = hit - buf + 1
    if final and end < n:
        if buf[n - 1] == b'\r':
            return None
        body = PyBytes_FromStringAndSize(NULL, n + 1)
        memcpy(PyBytes_AS_STRING(body), buf, n)
        PyBytes_AS_STRING(body)[n] = b'\n'
        return body, count + 1, b""
    if end == n:
        return data, count, b""
    body = PyBytes_FromStringAndSize(buf, end)
    rest = data if end == 0 else PyBytes_FromStringAndSize(buf + end, n - end)
    return body, count, rest


cdef bytes _ws_frame(bytes payload, unsigned char first):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload), head
    cdef bytes out
    cdef unsigned char* dst
    cdef int k
    head = 2 if n < 126 else (4 if n < 65536 else 10)
    out = PyBytes_FromStringAndSize(NULL, head + n)
    dst = <unsigned char*>PyBytes_AS_STRING(out)
    dst[0] = first
    if n < 126:
        dst[1] = <unsigned char>n
    elif n < 65536:
        dst[1] = 126
        dst[2] = <unsigned char>(n >> 8)
        dst[3] = <unsigned char>n
    else:
        dst[1] = 127
        for k in range(8):
            dst[2 + k] = <unsigned char>((<unsigned long long>n) >> (56 - 8 * k))
    memcpy(dst + head, PyBytes_AS_STRING(payload), n)
    return out


def ws_frames(list payloads, bint text):
    cdef unsigned char first = 0x81 if text else 0x82
    cdef bytes payload
    return [_ws_frame(payload, first) for payload in payloads]


cdef extern from "stdio.h":
    int snprintf(char* s, size_t n, const char* fmt, ...) nogil


def sse_events(long long first, list payloads):
    cdef list out = []
    cdef bytes payload, event
    cdef const char* src
    cdef char head[32]
    cdef Py_ssize_t n, hlen
    cdef char* dst
    cdef long long seq = first
    for payload in payloads:
        src = PyBytes_AS_STRING(payload)
        n = PyBytes_GET_SIZE(payload)
        if memchr(src, b'\n', n) != NULL or memchr(src, b'\r', n) != NULL:
            from ._framing_py import sse_event  # a payload of several lines: rare, done in Python
            event = sse_event(seq, payload)
        else:
            hlen = snprintf(head, sizeof(head), "id: %lld\ndata: ", seq)
            event = PyBytes_FromStringAndSize(NULL, hlen + n + 2)
            dst = PyBytes_AS_STRING(event)
            memcpy(dst, head, hlen)
            memcpy(dst + hlen, src, n)
            dst[hlen + n] = b'\n'
            dst[hlen + n + 1] = b'\n'
        PyList_Append(out, event)
        seq += 1
    return out
