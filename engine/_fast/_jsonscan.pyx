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
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdio cimport snprintf
from libc.string cimport memchr, memcmp, memcpy, strlen

import msgspec

cdef object _decode = msgspec.json.decode

cdef extern from "Python.h":
    ctypedef struct PyObject
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int* type) except NULL
    enum: DTSF_ADD_DOT_0 "Py_DTSF_ADD_DOT_0"

cdef extern from "math.h":
    const double NAN
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
        if c > 32:  # the usual case, compact JSON: one test
            break
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


ctypedef unsigned long long u64


cdef extern from *:
    """
    #include <stdint.h>
    #define ASYNCGATE_ONES 0x0101010101010101ULL
    #define ASYNCGATE_HIGHS 0x8080808080808080ULL
    /* The offset of the first flagged byte of a _special8 mask. Exact on little-endian machines,
       where the lowest flagged byte is the first in memory and the only one a borrow cannot fake;
       elsewhere 0, and the caller's byte loop finds it. */
    static inline int asyncgate_first_flagged(uint64_t mask) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && (defined(__GNUC__) || defined(__clang__))
        return __builtin_ctzll(mask) >> 3;
    #else
        (void)mask;
        return 0;
    #endif
    }
    """
    int _first_flagged "asyncgate_first_flagged"(u64 mask) noexcept nogil
    # Constants the C compiler folds (module-level cdef values would be loaded on every use).
    const u64 ONES "ASYNCGATE_ONES"
    const u64 HIGHS "ASYNCGATE_HIGHS"


cdef inline u64 _special8(const unsigned char* p) noexcept nogil:
    """The bytes of the 8 at P that are special in a string (STR_SPECIAL), flagged by their high bit,
    all tested at once: a byte of w ^ c is zero where w holds c, (x - ONES) & ~x & HIGHS flags zero
    bytes, w - 0x20 * ONES flags bytes below 0x20 and w itself bytes from 0x80. A borrow may flag a
    byte after a truly special one, never before it: the first flagged byte is special, and 0 means
    none is."""
    cdef u64 w, q, b
    memcpy(&w, p, 8)
    q = w ^ (ONES * 34)
    b = w ^ (ONES * 92)
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (w - ONES * 0x20) | w) & HIGHS


cdef Py_ssize_t _string(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, bint* escaped) noexcept nogil:
    """I is just after the opening quote; return the index after the closing quote, or -1."""
    cdef unsigned char c
    cdef int k, h, u
    cdef u64 mask
    escaped[0] = False
    while True:
        while i + 8 <= n:
            mask = _special8(p + i)
            if mask:
                i += _first_flagged(mask)
                break
            i += 8
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


cdef inline Py_ssize_t _short_string(const unsigned char* p, Py_ssize_t i, Py_ssize_t n,
                                     bint* escaped) noexcept nogil:
    """_string, with the usual case inline: a plain string that ends within the next 8 bytes (most
    keys and many values), found with one word test instead of a call."""
    cdef u64 mask
    cdef Py_ssize_t end
    if i + 8 <= n:
        mask = _special8(p + i)
        if mask:
            end = i + _first_flagged(mask)
            if p[end] == 34:
                escaped[0] = False
                return end + 1
    return _string(p, i, n, escaped)


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
        return _short_string(p, i + 1, n, &escaped)
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
            i = _short_string(p, i + 1, n, &escaped)
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


cdef double[23] POW10
for _i in range(23):
    POW10[_i] = float(10 ** _i)


cdef double _fast_float(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """Clinger's fast path: a decimal whose digits fit in 2**53 and whose power of ten is at most
    22 is one exact division or multiplication of two exact doubles, so correctly rounded.
    NaN when the number is outside it (or is zero, whose sign msgspec decides)."""
    cdef unsigned long long m = 0
    cdef int digits = 0, exp10 = 0, e = 0, esign = 1
    cdef bint neg = False, nonzero = False
    cdef double d
    if p[i] == 45:
        neg = True
        i += 1
    while i < end and 48 <= p[i] <= 57:
        if p[i] != 48 or nonzero:
            nonzero = True
            digits += 1
            if digits > 15:
                return NAN
        m = m * 10 + (p[i] - 48)
        i += 1
    if i < end and p[i] == 46:
        i += 1
        while i < end and 48 <= p[i] <= 57:
            if p[i] != 48 or nonzero:
                nonzero = True
                digits += 1
                if digits > 15:
                    return NAN
            m = m * 10 + (p[i] - 48)
            exp10 -= 1
            i += 1
    if i < end and (p[i] == 101 or p[i] == 69):
        i += 1
        if p[i] == 45:
            esign = -1
            i += 1
        elif p[i] == 43:
            i += 1
        while i < end and 48 <= p[i] <= 57:
            e = e * 10 + (p[i] - 48)
            if e > 1000:
                return NAN
            i += 1
        exp10 += esign * e
    if m == 0:
        return NAN
    d = <double>m
    if exp10 < 0:
        if exp10 < -22:
            return NAN
        d = d / POW10[-exp10]
    elif exp10 > 0:
        if exp10 > 22:
            return NAN
        d = d * POW10[exp10]
    return -d if neg else d


cdef inline bint _zero_digits(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """Whether the (valid) JSON number p[i:end] is a zero: no digit but 0 before its exponent."""
    while i < end and p[i] != 101 and p[i] != 69:
        if 49 <= p[i] <= 57:
            return False
        i += 1
    return True


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
        if kind == 2:
            d = _fast_float(p, start, end)
            if d == d:
                return d
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

    cdef int _locate(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* starts,
                     Py_ssize_t* ends) noexcept nogil:
        """Validate the object P[:N] and find where each key's value starts and ends (start -1 when
        absent). Return 0, or -1 to leave the document to a full decode."""
        cdef Py_ssize_t i, kstart, klen, vstart, j
        cdef bint escaped
        for j in range(self._count):
            starts[j] = -1
        i = _ws(p, 0, n)
        if i >= n or p[i] != 123:
            return -1
        i = _ws(p, i + 1, n)
        if i < n and p[i] == 125:
            i += 1
        else:
            while True:
                if i >= n or p[i] != 34:
                    return -1
                kstart = i + 1
                i = _short_string(p, kstart, n, &escaped)
                if i < 0 or escaped:
                    return -1
                klen = i - 1 - kstart
                i = _ws(p, i, n)
                if i >= n or p[i] != 58:
                    return -1
                vstart = _ws(p, i + 1, n)
                i = _value(p, vstart, n, 1)
                if i < 0:
                    return -1
                for j in range(self._count):
                    if (self._klen[j] == klen and (klen == 0 or <unsigned char>self._kptr[j][0] == p[kstart])
                            and memcmp(self._kptr[j], p + kstart, klen) == 0):
                        starts[j] = vstart  # a repeated key: the last one wins, as in msgspec
                        ends[j] = i
                        break
                i = _ws(p, i, n)
                if i >= n:
                    return -1
                if p[i] == 44:
                    i = _ws(p, i + 1, n)
                elif p[i] == 125:
                    i += 1
                    break
                else:
                    return -1
        if _ws(p, i, n) != n:
            return -1
        return 0

    def project(self, data):
        """The fields KEYS of the JSON object DATA that are present, as a dict; None to decode in full."""
        if not PyBytes_CheckExact(data):
            return None
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), j
        cdef Py_ssize_t starts[MAX_KEYS]
        cdef Py_ssize_t ends[MAX_KEYS]
        cdef dict out
        if self._locate(p, n, starts, ends) < 0:
            return None
        out = {}
        try:
            for j in range(self._count):
                if starts[j] >= 0:
                    out[self._keys[j]] = _decode_value(p, starts[j], ends[j], data)
        except (ValueError, msgspec.DecodeError):
            return None
        return out


# -- flat mappings: `root.<key> = <arithmetic on this.<key> and literals>` -----------------------

cdef enum Kind:
    K_NULL, K_TRUE, K_FALSE, K_INT, K_FLOAT, K_STR, K_OTHER, K_CONST, K_PIECE

cdef enum Op:
    OP_KEY, OP_CONST, OP_ADD, OP_SUB, OP_MUL, OP_DIV

cdef struct Val:
    int kind
    long long i
    double d
    Py_ssize_t start
    Py_ssize_t end
    Py_ssize_t const_index  # K_CONST: index of the pre-encoded literal

# A growing output buffer (PyMem), for documents written one after the other.
cdef struct Buf:
    char* data
    Py_ssize_t size
    Py_ssize_t cap


cdef int _init(Buf* b, Py_ssize_t cap) except -1:
    b.size = 0
    b.cap = cap
    b.data = <char*>PyMem_Malloc(cap)
    if b.data == NULL:
        raise MemoryError()
    return 0


cdef int _reserve(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap
    cdef char* grown
    if b.size + extra <= b.cap:
        return 0
    cap = max(b.cap * 2, b.size + extra)
    grown = <char*>PyMem_Realloc(b.data, cap)
    if grown == NULL:
        raise MemoryError()
    b.data = grown
    b.cap = cap
    return 0


cdef inline int _put(Buf* b, const char* s, Py_ssize_t n) except -1:
    if b.size + n > b.cap:
        _reserve(b, n)
    memcpy(b.data + b.size, s, n)
    b.size += n
    return 0


cdef enum:
    MAX_CODE = 256
    MAX_OUT = 64
    MAX_STACK = 64

# 2**53: integers up to it are exact doubles (Bloblang's norm_float bound).
cdef double EXACT = 9007199254740992.0
cdef long long EXACT_I = 9007199254740992
cdef long long LIMIT = 1000000000000000000  # |a|, |b| <= 10**18: a + b and a - b fit in int64
cdef long long MUL_LIMIT = 2147483648  # |a|, |b| <= 2**31: a * b fits in int64


cdef inline bint _is_num(Val* v) noexcept nogil:
    return v.kind == K_INT or v.kind == K_FLOAT


cdef inline double _as_double(Val* v) noexcept nogil:
    return <double>v.i if v.kind == K_INT else v.d


cdef inline void _set_norm(Val* v, double d) noexcept nogil:
    """Bloblang's norm_float: a whole float within 2**53 becomes an int."""
    if d == d and -EXACT <= d <= EXACT and d == <double>(<long long>d):
        v.kind = K_INT
        v.i = <long long>d
    else:
        v.kind = K_FLOAT
        v.d = d


cdef int _binop(int op, Val* a, Val* b) noexcept nogil:
    """A = A op B with the semantics of Bloblang's op_add/op_sub/op_mul/op_div on numbers.
    Return -1 for anything else (strings, errors, overflow, inexact conversions): the caller then
    leaves the message to the general path, which gives the exact value or error."""
    cdef double x, y
    if not _is_num(a) or not _is_num(b):
        return -1
    if a.kind == K_INT and b.kind == K_INT and op != OP_DIV:
        # Python integers do not overflow: leave results near the int64 limits to the general path.
        if not (-LIMIT <= a.i <= LIMIT and -LIMIT <= b.i <= LIMIT):
            return -1
        if op == OP_ADD:
            a.i = a.i + b.i
        elif op == OP_SUB:
            a.i = a.i - b.i
        else:
            if not (-MUL_LIMIT <= a.i <= MUL_LIMIT and -MUL_LIMIT <= b.i <= MUL_LIMIT):
                return -1
            a.i = a.i * b.i
        return 0
    # A float is involved (or a division): Python converts ints to float; keep to exact ones.
    if (a.kind == K_INT and not (-EXACT_I <= a.i <= EXACT_I)) or (b.kind == K_INT and not (-EXACT_I <= b.i <= EXACT_I)):
        return -1
    x = _as_double(a)
    y = _as_double(b)
    if op == OP_ADD:
        x = x + y
    elif op == OP_SUB:
        x = x - y
    elif op == OP_MUL:
        x = x * y
    else:
        if y == 0.0:
            return -1
        x = x / y
    _set_norm(a, x)
    return 0


cdef class FlatMap(Projector):
    """Runs a flat mapping on a JSON object's bytes and returns the new document's bytes.

    FlatMap(keys, outputs): KEYS are the top-level input fields read (as for Projector); OUTPUTS a
    list of (name, program) in statement order, each program a postfix list of ("key", i) (the
    value of KEYS[i], null when absent), ("const", value) (a literal: None, bool, int, float or
    str) and ("op", "+"|"-"|"*"|"/") (Bloblang arithmetic). `run(data)` returns the document
    {name: value, ...} encoded as Bento prints it (compact JSON, sorted keys), or None whenever
    anything falls outside this (an error, a string operand, an escaped or unusual document): the
    caller then runs the general mapping, which gives the exact value or error."""

    cdef Py_ssize_t _ncode
    cdef int _code_op[MAX_CODE]
    cdef Py_ssize_t _code_arg[MAX_CODE]
    cdef Py_ssize_t _nout
    cdef Py_ssize_t _out_end[MAX_OUT]      # end of each output's program in the code
    cdef Py_ssize_t _out_order[MAX_OUT]    # outputs in sorted-name order
    cdef list _names                        # '"name":' per output, encoded
    cdef list _consts                       # literal values
    cdef list _const_json                   # their JSON encodings
    cdef Val _const_val[MAX_CODE]           # and as values
    cdef object _dumps
    cdef object _sort_opt

    def __init__(self, keys, outputs):
        import orjson
        Projector.__init__(self, keys)
        self._dumps = orjson.dumps
        self._sort_opt = orjson.OPT_SORT_KEYS
        outputs = list(outputs)
        if not outputs or len(outputs) > MAX_OUT:
            raise ValueError(f"between 1 and {MAX_OUT} outputs")
        names = [str(name) for name, _ in outputs]
        if len(set(names)) != len(names):
            raise ValueError("output names must be distinct")
        self._names = [orjson.dumps(name) + b":" for name in names]
        self._consts = []
        self._const_json = []
        self._nout = len(outputs)
        cdef Py_ssize_t pos = 0, depth, j
        ops = {"+": OP_ADD, "-": OP_SUB, "*": OP_MUL, "/": OP_DIV}
        for j, (name, program) in enumerate(outputs):
            depth = 0
            for ins in program:
                if pos >= MAX_CODE:
                    raise ValueError("program too long")
                kind, arg = ins
                if kind == "key":
                    if not 0 <= arg < self._count:
                        raise ValueError(f"no key {arg}")
                    self._code_op[pos] = OP_KEY
                    self._code_arg[pos] = arg
                    depth += 1
                elif kind == "const":
                    if arg is not None and type(arg) not in (bool, int, float, str):
                        raise ValueError(f"unsupported literal {arg!r}")
                    self._code_op[pos] = OP_CONST
                    self._code_arg[pos] = len(self._consts)
                    self._consts.append(arg)
                    self._const_json.append(orjson.dumps(arg))
                    self._make_const(&self._const_val[len(self._consts) - 1], len(self._consts) - 1)
                    depth += 1
                elif kind == "op":
                    self._code_op[pos] = ops[arg]
                    self._code_arg[pos] = 0
                    depth -= 1
                    if depth < 1:
                        raise ValueError("stack underflow")
                else:
                    raise ValueError(f"unknown instruction {kind!r}")
                if depth > MAX_STACK:
                    raise ValueError("program too deep")
                pos += 1
            if depth != 1:
                raise ValueError("a program must leave one value")
            self._out_end[j] = pos
        self._ncode = pos
        for j, k in enumerate(sorted(range(self._nout), key=lambda k: names[k])):
            self._out_order[j] = k

    cdef void _make_const(self, Val* v, Py_ssize_t index):
        value = self._consts[index]
        v.const_index = index
        v.start = v.end = -1
        if value is None:
            v.kind = K_NULL
        elif value is True:
            v.kind = K_TRUE
        elif value is False:
            v.kind = K_FALSE
        elif type(value) is int and -EXACT_I <= value <= EXACT_I:
            v.kind = K_INT
            v.i = value
        elif type(value) is float:
            v.kind = K_FLOAT
            v.d = value
        else:
            v.kind = K_CONST  # strings, and integers beyond 2**53 (no arithmetic on them here)

    cdef int _load_key(self, Val* v, const unsigned char* p, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
        cdef unsigned char c
        cdef int kind
        cdef bint escaped
        cdef double d
        cdef Py_ssize_t i
        cdef bint neg
        v.start = start
        v.end = end
        if start < 0:
            v.kind = K_NULL
            return 0
        c = p[start]
        if c == 34:
            v.kind = K_STR
            _string(p, start + 1, end, &escaped)
            if escaped:
                v.kind = K_OTHER
            return 0
        if c == 116:
            v.kind = K_TRUE
            return 0
        if c == 102:
            v.kind = K_FALSE
            return 0
        if c == 110:
            v.kind = K_NULL
            return 0
        if c == 45 or 48 <= c <= 57:
            _number(p, start, end, &kind)
            if kind == 0:
                i = start
                neg = c == 45
                if neg:
                    i += 1
                v.i = 0
                while i < end:
                    v.i = v.i * 10 + (p[i] - 48)
                    i += 1
                if neg:
                    v.i = -v.i
                v.kind = K_INT
                return 0
            if kind == 2:
                d = _fast_float(p, start, end)
                if d != d and _zero_digits(p, start, end):
                    d = -0.0 if c == 45 else 0.0  # a zero keeps its sign, as msgspec decodes it
                if d == d:
                    v.kind = K_FLOAT
                    v.d = d
                    return 0
            v.kind = K_OTHER  # big integers, long floats: msgspec decodes them below
            return 0
        v.kind = K_OTHER
        return 0

    cdef int _eval(self, const unsigned char* p, Py_ssize_t n, object data, Py_ssize_t base,
                   Val* results, list floats, list pieces) except -2:
        """Evaluate the outputs for the JSON object P[:N] (DATA's bytes from BASE on) into RESULTS,
        ready to write: strings as offsets into DATA, floats as indexes into FLOATS (formatted later,
        all at once), values decoded in Python as indexes into PIECES (their JSON). -1 when the
        general path must decide."""
        cdef Py_ssize_t starts[MAX_KEYS]
        cdef Py_ssize_t ends[MAX_KEYS]
        cdef Val stack[MAX_STACK]
        cdef Py_ssize_t pc = 0, sp, j, k
        cdef int op
        cdef Val* v
        if self._locate(p, n, starts, ends) < 0:
            return -1
        for j in range(self._nout):
            sp = 0
            while pc < self._out_end[j]:
                op = self._code_op[pc]
                if op == OP_KEY:
                    k = self._code_arg[pc]
                    self._load_key(&stack[sp], p, starts[k], ends[k])
                    sp += 1
                elif op == OP_CONST:
                    stack[sp] = self._const_val[self._code_arg[pc]]
                    sp += 1
                else:
                    sp -= 1
                    if _binop(op, &stack[sp - 1], &stack[sp]) < 0:
                        return -1
                pc += 1
            v = &results[j]
            v[0] = stack[0]
            if v.kind == K_STR:
                v.start += base
                v.end += base
            elif v.kind == K_FLOAT:
                if not (v.d - v.d == 0.0):
                    return -1  # inf / nan
                v.start = len(floats)
                floats.append(v.d)
            elif v.kind == K_OTHER:  # decode the value and encode it as the general path would
                try:
                    pieces.append(self._dumps(_decode(data[base + v.start:base + v.end]), option=self._sort_opt))
                except Exception:
                    return -1
                v.kind = K_PIECE
                v.start = len(pieces) - 1
        return 0

    cdef int _write(self, const char* data, Val* results, const char* ftext, Py_ssize_t* fpos,
                    list pieces, Buf* out) except -1:
        """Append the document {name: value, ...} of RESULTS (from _eval) to OUT, names sorted.
        FTEXT holds the formatted floats, the i-th at FPOS[2i]:FPOS[2i+1]."""
        cdef Py_ssize_t k, j, f
        cdef int kind
        cdef bytes piece
        _put(out, b"{", 1)
        for k in range(self._nout):
            j = self._out_order[k]
            if k:
                _put(out, b",", 1)
            piece = <bytes>self._names[j]
            _put(out, PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))
            kind = results[j].kind
            if kind == K_NULL:
                _put(out, b"null", 4)
            elif kind == K_TRUE:
                _put(out, b"true", 4)
            elif kind == K_FALSE:
                _put(out, b"false", 5)
            elif kind == K_INT:
                _reserve(out, 24)
                out.size += snprintf(out.data + out.size, 24, b"%lld", results[j].i)
            elif kind == K_STR:
                _put(out, data + results[j].start, results[j].end - results[j].start)
            elif kind == K_FLOAT:
                f = results[j].start
                _put(out, ftext + fpos[2 * f], fpos[2 * f + 1] - fpos[2 * f])
            elif kind == K_PIECE:
                piece = <bytes>pieces[results[j].start]
                _put(out, PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))
            else:  # K_CONST
                piece = <bytes>self._const_json[results[j].const_index]
                _put(out, PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))
        _put(out, b"}", 1)
        return 0

    cdef bytes _format_floats(self, list floats, Py_ssize_t* fpos):
        """Format FLOATS with orjson, all in one call (its own number format, as the general path
        prints them); return the text and set FPOS to where each one is in it."""
        cdef bytes text = self._dumps(floats)  # b"[f0,f1,...]": a float's text holds no comma
        cdef const char* t = PyBytes_AS_STRING(text)
        cdef Py_ssize_t i, pos = 1, count = len(floats)
        for i in range(count):
            fpos[2 * i] = pos
            while t[pos] != 44 and t[pos] != 93:  # ',' ']'
                pos += 1
            fpos[2 * i + 1] = pos
            pos += 1
        return text

    cdef object _map(self, object data, bint lines):
        """The new documents for DATA: one JSON object, or (LINES) one per line, each then followed
        by a newline; None when any is left to the general path."""
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), start = 0, stop, count = 1, i
        cdef const unsigned char* hit
        cdef Val* results = NULL
        cdef Py_ssize_t* fpos = NULL
        cdef list floats = [], pieces = []
        cdef bytes ftext = None
        cdef const char* ft = NULL
        cdef Buf out
        out.data = NULL
        try:
            if lines:
                count = 0
                while start < n:
                    hit = <const unsigned char*>memchr(p + start, 10, n - start)
                    start = n if hit == NULL else hit - p + 1
                    count += 1
            results = <Val*>PyMem_Malloc((count * self._nout + 1) * sizeof(Val))
            if results == NULL:
                raise MemoryError()
            start = 0
            for i in range(count):
                stop = n
                if lines:
                    hit = <const unsigned char*>memchr(p + start, 10, n - start)
                    stop = n if hit == NULL else hit - p
                if self._eval(p + start, stop - start, data, start, results + i * self._nout, floats, pieces) < 0:
                    return None
                start = stop + 1
            if floats:
                fpos = <Py_ssize_t*>PyMem_Malloc(2 * len(floats) * sizeof(Py_ssize_t))
                if fpos == NULL:
                    raise MemoryError()
                ftext = self._format_floats(floats, fpos)
                ft = PyBytes_AS_STRING(ftext)
            _init(&out, n // 2 + 64 if lines else 64)
            for i in range(count):
                self._write(<const char*>p, results + i * self._nout, ft, fpos, pieces, &out)
                if lines:
                    _put(&out, b"\n", 1)
            return PyBytes_FromStringAndSize(out.data, out.size)
        finally:
            PyMem_Free(out.data)
            PyMem_Free(results)
            PyMem_Free(fpos)

    def run(self, data):
        if not PyBytes_CheckExact(data):
            return None
        return self._map(data, False)

    def run_many(self, list payloads):
        """[run(p) for p in payloads] (None for a payload that is None)."""
        cdef Py_ssize_t i, n = len(payloads)
        cdef list out = [None] * n
        for i in range(n):
            p = payloads[i]
            if p is not None:
                out[i] = self.run(p)
        return out

    def run_lines(self, data):
        """The new documents of the lines of DATA, each followed by a newline, as one bytes object;
        None when any line is left to the general path (see protocols.FlatMap.run_lines)."""
        if not PyBytes_CheckExact(data):
            return None
        return self._map(data, True)
