# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Reading a few top-level fields of a JSON object without building the whole document.

`Projector(keys).project(data)` walks DATA once: it checks the whole document is valid JSON
(what msgspec would accept) and decodes only the values of KEYS; everything else is skipped
without creating a Python object. Anything unusual (escapes in keys, \\u surrogates, very deep
nesting, a top-level value that is not an object, invalid JSON...) returns None, and the caller
decodes the whole document with msgspec instead, which gives the exact value or error.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_CheckExact
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp, memcpy

import msgspec

cdef object _decode = msgspec.json.decode

cdef extern from "Python.h":
    ctypedef struct PyObject
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0

cdef extern from "math.h":
    bint isinf(double x) nogil
    bint isnan(double x) nogil

cdef enum:
    MAX_DEPTH = 200
    MAX_KEYS = 64

# Bytes inside a string that need a closer look: the quote, the backslash, control characters
# (invalid in JSON strings) and the start of multi-byte UTF-8 sequences (validated).
cdef unsigned char STR_SPECIAL[256]
cdef int _i
for _i in range(256):
    STR_SPECIAL[_i] = 1 if (_i == 34 or _i == 92 or _i < 0x20 or _i >= 0x80) else 0


cdef inline Py_ssize_t _ws(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef unsigned char c
    while i < n:
        c = p[i]
        if c == 32 or c == 10 or c == 13 or c == 9:
            i += 1
        else:
            break
    return i


cdef inline int _hex(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef Py_ssize_t _utf8(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Validate one multi-byte UTF-8 sequence starting at i (RFC 3629, as Python's strict codec);
    return the index after it or -1."""
    cdef unsigned char c = p[i], c1
    cdef Py_ssize_t need
    if 0xC2 <= c <= 0xDF:
        need = 1
    elif 0xE0 <= c <= 0xEF:
        need = 2
    elif 0xF0 <= c <= 0xF4:
        need = 3
    else:
        return -1
    if i + need >= n:
        return -1
    c1 = p[i + 1]
    if c == 0xE0:
        if not (0xA0 <= c1 <= 0xBF):
            return -1
    elif c == 0xED:
        if not (0x80 <= c1 <= 0x9F):  # no UTF-16 surrogates
            return -1
    elif c == 0xF0:
        if not (0x90 <= c1 <= 0xBF):
            return -1
    elif c == 0xF4:
        if not (0x80 <= c1 <= 0x8F):
            return -1
    elif not (0x80 <= c1 <= 0xBF):
        return -1
    if need >= 2 and not (0x80 <= p[i + 2] <= 0xBF):
        return -1
    if need == 3 and not (0x80 <= p[i + 3] <= 0xBF):
        return -1
    return i + need + 1


cdef Py_ssize_t _string(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, bint* escaped) noexcept nogil:
    """I is just after the opening quote; return the index after the closing quote, or -1."""
    cdef unsigned char c
    cdef int k, h, u
    escaped[0] = False
    while True:
        while i < n and not STR_SPECIAL[p[i]]:
            i += 1
        if i >= n:
            return -1
        c = p[i]
        if c == 34:
            return i + 1
        if c == 92:
            escaped[0] = True
            if i + 1 >= n:
                return -1
            c = p[i + 1]
            if c == 117:  # \uXXXX
                if i + 5 >= n:
                    return -1
                u = 0
                for k in range(2, 6):
                    h = _hex(p[i + k])
                    if h < 0:
                        return -1
                    u = u * 16 + h
                if 0xD800 <= u <= 0xDFFF:
                    return -1  # surrogate pairs: leave them to msgspec
                i += 6
            elif c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114 or c == 116:
                i += 2
            else:
                return -1
        elif c < 0x20:
            return -1
        else:
            i = _utf8(p, i, n)
            if i < 0:
                return -1


cdef Py_ssize_t _number(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, int* kind) noexcept nogil:
    """Validate a JSON number at i; kind: 0 = integer of at most 18 digits, 1 = other integer,
    2 = float. Return the index after it or -1."""
    cdef Py_ssize_t start, digits
    kind[0] = 0
    if i < n and p[i] == 45:  # '-'
        i += 1
    if i >= n:
        return -1
    start = i
    if p[i] == 48:  # a leading 0 stands alone
        i += 1
    elif 49 <= p[i] <= 57:
        while i < n and 48 <= p[i] <= 57:
            i += 1
    else:
        return -1
    digits = i - start
    if digits > 18:
        kind[0] = 1
    if i < n and p[i] == 46:  # '.'
        kind[0] = 2
        i += 1
        if i >= n or not (48 <= p[i] <= 57):
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    if i < n and (p[i] == 101 or p[i] == 69):  # 'e' / 'E'
        kind[0] = 2
        i += 1
        if i < n and (p[i] == 43 or p[i] == 45):
            i += 1
        if i >= n or not (48 <= p[i] <= 57):
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    return i


cdef Py_ssize_t _value(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, int depth) noexcept nogil:
    """Validate the JSON value at i (no leading whitespace); return the index after it or -1."""
    cdef unsigned char c
    cdef bint escaped
    cdef int kind
    if i >= n:
        return -1
    c = p[i]
    if c == 34:
        return _string(p, i + 1, n, &escaped)
    if c == 45 or 48 <= c <= 57:
        return _number(p, i, n, &kind)
    if c == 116:
        return i + 4 if i + 4 <= n and memcmp(p + i, b"true", 4) == 0 else -1
    if c == 102:
        return i + 5 if i + 5 <= n and memcmp(p + i, b"false", 5) == 0 else -1
    if c == 110:
        return i + 4 if i + 4 <= n and memcmp(p + i, b"null", 4) == 0 else -1
    if depth >= MAX_DEPTH:
        return -1
    if c == 123:  # {
        i = _ws(p, i + 1, n)
        if i < n and p[i] == 125:
            return i + 1
        while True:
            if i >= n or p[i] != 34:
                return -1
            i = _string(p, i + 1, n, &escaped)
            if i < 0:
                return -1
            i = _ws(p, i, n)
            if i >= n or p[i] != 58:
                return -1
            i = _value(p, _ws(p, i + 1, n), n, depth + 1)
            if i < 0:
                return -1
            i = _ws(p, i, n)
            if i >= n:
                return -1
            if p[i] == 44:
                i = _ws(p, i + 1, n)
            elif p[i] == 125:
                return i + 1
            else:
                return -1
    if c == 91:  # [
        i = _ws(p, i + 1, n)
        if i < n and p[i] == 93:
            return i + 1
        while True:
            i = _value(p, i, n, depth + 1)
            if i < 0:
                return -1
            i = _ws(p, i, n)
            if i >= n:
                return -1
            if p[i] == 44:
                i = _ws(p, i + 1, n)
            elif p[i] == 93:
                return i + 1
            else:
                return -1
    return -1


cdef object _decode_value(const unsigned char* p, Py_ssize_t start, Py_ssize_t end, object data):
    """The Python value of the (already validated) JSON value p[start:end], as msgspec decodes it."""
    cdef unsigned char c = p[start]
    cdef bint escaped
    cdef int kind
    cdef long long v
    cdef Py_ssize_t i
    cdef bint neg
    cdef char buf[64]
    cdef double d
    if c == 34:
        _string(p, start + 1, end, &escaped)
        if not escaped:
            return PyUnicode_DecodeUTF8(<const char*>p + start + 1, end - start - 2, NULL)
        return _decode(data[start:end])
    if c == 116:
        return True
    if c == 102:
        return False
    if c == 110:
        return None
    if c == 45 or 48 <= c <= 57:
        _number(p, start, end, &kind)
        if kind == 0:
            i = start
            neg = c == 45
            if neg:
                i += 1
            v = 0
            while i < end:
                v = v * 10 + (p[i] - 48)
                i += 1
            return -v if neg else v
        if kind == 2 and end - start < 40:
            memcpy(buf, p + start, end - start)
            buf[end - start] = 0
            d = PyOS_string_to_double(buf, NULL, NULL)
            if not isinf(d) and not isnan(d) and d != 0.0:
                return d
        return _decode(data[start:end])  # big integers, zeros and ranges: msgspec's own rules
    return _decode(data[start:end])  # objects and arrays


cdef class Projector:
    """Decodes the top-level fields KEYS of JSON objects; see the module docstring."""

    cdef tuple _keys
    cdef list _encoded
    cdef Py_ssize_t _count
    cdef const char* _kptr[MAX_KEYS]
    cdef Py_ssize_t _klen[MAX_KEYS]

    def __init__(self, keys):
        cdef Py_ssize_t j
        cdef bytes b
        self._keys = tuple(keys)
        if len(self._keys) > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        self._encoded = [str(k).encode("utf-8") for k in self._keys]
        self._count = len(self._keys)
        for j in range(self._count):
            b = self._encoded[j]
            self._kptr[j] = PyBytes_AS_STRING(b)
            self._klen[j] = PyBytes_GET_SIZE(b)

    @property
    def keys(self):
        return self._keys

    def project(self, data):
        """The fields KEYS of the JSON object DATA that are present, as a dict; None to decode in full."""
        if not PyBytes_CheckExact(data):
            return None
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t i, kstart, klen, vstart, j
        cdef Py_ssize_t starts[MAX_KEYS]
        cdef Py_ssize_t ends[MAX_KEYS]
        cdef bint escaped
        cdef int hit
        cdef dict out
        for j in range(self._count):
            starts[j] = -1
        i = _ws(p, 0, n)
        if i >= n or p[i] != 123:
            return None
        i = _ws(p, i + 1, n)
        if i < n and p[i] == 125:
            i += 1
        else:
            while True:
                if i >= n or p[i] != 34:
                    return None
                kstart = i + 1
                i = _string(p, kstart, n, &escaped)
                if i < 0 or escaped:
                    return None
                klen = i - 1 - kstart
                i = _ws(p, i, n)
                if i >= n or p[i] != 58:
                    return None
                vstart = _ws(p, i + 1, n)
                i = _value(p, vstart, n, 1)
                if i < 0:
                    return None
                for j in range(self._count):
                    if self._klen[j] == klen and memcmp(self._kptr[j], p + kstart, klen) == 0:
                        starts[j] = vstart  # a repeated key: the last one wins, as in msgspec
                        ends[j] = i
                        break
                i = _ws(p, i, n)
                if i >= n:
                    return None
                if p[i] == 44:
                    i = _ws(p, i + 1, n)
                elif p[i] == 125:
                    i += 1
                    break
                else:
                    return None
        if _ws(p, i, n) != n:
            return None
        out = {}
        try:
            for j in range(self._count):
                if starts[j] >= 0:
                    out[self._keys[j]] = _decode_value(p, starts[j], ends[j], data)
        except (ValueError, msgspec.DecodeError):
            return None
        return out
