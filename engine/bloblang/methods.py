"""Bloblang methods: ``value.name(args)``.

Each is registered with ``@method(name, *params)``; ``Param(name, default, query=True)``
marks an argument evaluated per value (a lambda such as ``x -> x + 1`` or a query
relative to ``this``), which the implementation receives as a one-argument callable.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import html
import io
import math
import re
import zlib
from functools import lru_cache
from typing import Any, Callable
from urllib.parse import quote as url_quote
from urllib.parse import quote_plus, unquote, unquote_plus

import msgspec

from .registry import Param, method
from .values import (
    DELETED,
    NOTHING,
    QueryError,
    describe,
    expected,
    is_number,
    norm_float,
    to_json,
    to_string,
    type_name,
    values_equal,
)

Q = lambda name, default=...: Param(name, query=True) if default is ... else Param(name, default, query=True)  # noqa: E731


# -- argument helpers ----------------------------------------------------------
def _str(v: Any, what: str = "string") -> str:
    t = type(v)
    if t is str:
        return v
    if t is bytes:
        return v.decode("utf-8", "replace")
    raise expected(what, v)


def _num(v: Any) -> int | float:
    t = type(v)
    if t is int or t is float:
        return v
    raise expected("number", v)


def _int(v: Any, what: str = "integer") -> int:
    t = type(v)
    if t is int:
        return v
    if t is float and v.is_integer():
        return int(v)
    raise expected(what, v)


def _arr(v: Any) -> list[Any]:
    if type(v) is list:
        return v
    raise expected("array", v)


def _obj(v: Any) -> dict[str, Any]:
    if type(v) is dict:
        return v
    raise expected("object", v)


def _bool(v: Any) -> bool:
    if type(v) is bool:
        return v
    raise expected("bool", v)


def _bytes(v: Any) -> bytes:
    t = type(v)
    if t is bytes:
        return v
    if t is str:
        return v.encode()
    return to_string(v).encode()


def _same_kind(v: Any, s: str) -> Any:
    """Return a string result as bytes when the input was bytes."""
    return s.encode() if type(v) is bytes else s


# -- strings -------------------------------------------------------------------
@method("uppercase")
def uppercase(v: Any) -> Any:
    return _same_kind(v, _str(v).upper())


@method("lowercase")
def lowercase(v: Any) -> Any:
    return _same_kind(v, _str(v).lower())


def _go_title(s: str) -> str:
    out = []
    prev_sep = True
    for c in s:
        out.append(c.upper() if prev_sep else c)
        # Go's strings.Title: letters, digits and underscore continue a word.
        prev_sep = not (c.isalnum() or c == "_") if c.isascii() else c.isspace()
    return "".join(out)


@method("capitalize")
def capitalize(v: Any) -> Any:
    return _same_kind(v, _go_title(_str(v)))


@method("trim", Param("cutset", None))
def trim(v: Any, cutset: Any) -> Any:
    s = _str(v)
    return _same_kind(v, s.strip() if cutset is None else s.strip(_str(cutset)))


@method("trim_prefix", "prefix")
def trim_prefix(v: Any, prefix: Any) -> Any:
    s, p = _str(v), _str(prefix)
    return _same_kind(v, s[len(p):] if p and s.startswith(p) else s)


@method("trim_suffix", "suffix")
def trim_suffix(v: Any, suffix: Any) -> Any:
    s, p = _str(v), _str(suffix)
    return _same_kind(v, s[: -len(p)] if p and s.endswith(p) else s)


@method("has_prefix", "value")
def has_prefix(v: Any, prefix: Any) -> bool:
    return _str(v).startswith(_str(prefix))


@method("has_suffix", "value")
def has_suffix(v: Any, suffix: Any) -> bool:
    return _str(v).endswith(_str(suffix))


@method("split", "delimiter", Param("empty_as_null", False))
def split(v: Any, delim: Any, empty_as_null: Any) -> list[Any]:
    if type(v) is list:
        # Bento: split an array into groups at every element equal to the delimiter.
        groups: list[list[Any]] = [[]]
        for item in v:
            if values_equal(item, delim):
                groups.append([])
            else:
                groups[-1].append(item)
        return groups
    s, d = _str(v), _str(delim)
    parts: list[Any] = s.split(d) if d else list(s)
    if empty_as_null:
        parts = [p if p != "" else None for p in parts]
    if type(v) is bytes:
        return [p.encode() if p is not None else None for p in parts]
    return parts


@method("split_by", Q("predicate"))
def split_by(v: Any, pred: Callable[[Any], Any]) -> list[Any]:
    if type(v) in (str, bytes):
        s = _str(v)
        out_s: list[str] = [""]
        for c in s:
            if _bool(pred(c)):
                out_s.append("")
            else:
                out_s[-1] += c
        return [p for p in out_s if p]
    groups: list[list[Any]] = [[]]
    for item in _arr(v):
        if _bool(pred(item)):
            groups.append([])
        else:
            groups[-1].append(item)
    return [g for g in groups if g]


@method("join", Param("delimiter", ""))
def join(v: Any, delim: Any) -> str:
    items = _arr(v)
    out = []
    for i in items:
        if type(i) not in (str, bytes):
            raise QueryError(f"expected array of strings, found {describe(i)}")
        out.append(_str(i))
    return _str(delim).join(out)


@method("replace_all", "old", "new", aliases=("replace",))
def replace_all(v: Any, old: Any, new: Any) -> Any:
    return _same_kind(v, _str(v).replace(_str(old), _str(new)))


@method("replace_all_many", "values", aliases=("replace_many",))
def replace_all_many(v: Any, values: Any) -> Any:
    pairs = _arr(values)
    if len(pairs) % 2:
        raise QueryError(f"invalid arg, replacements should be in pairs and must therefore be even: {len(pairs)}")
    olds = [_str(p) for p in pairs[0::2]]
    news = [_str(p) for p in pairs[1::2]]
    s = _str(v)
    # Go's strings.Replacer: scan once, at each position the first listed match wins.
    out = []
    i = 0
    while i < len(s):
        for o, n in zip(olds, news):
            if o and s.startswith(o, i):
                out.append(n)
                i += len(o)
                break
        else:
            out.append(s[i])
            i += 1
    return _same_kind(v, "".join(out))


@method("repeat", "count")
def repeat(v: Any, count: Any) -> Any:
    n = _int(count)
    if n < 0:
        raise QueryError("count must be non-negative")
    return _same_kind(v, _str(v) * n)


@method("reverse")
def reverse(v: Any) -> Any:
    if type(v) is list:
        return v[::-1]
    return _same_kind(v, _str(v)[::-1])


@method("index_of", "value")
def index_of(v: Any, sub: Any) -> int:
    if type(v) is list:
        for i, item in enumerate(v):
            if values_equal(item, sub):
                return i
        return -1
    return _str(v).find(_str(sub))


@method("contains", "value")
def contains(v: Any, x: Any) -> bool:
    t = type(v)
    if t is str or t is bytes:
        return _str(x) in _str(v)
    if t is list:
        return any(values_equal(i, x) for i in v)
    if t is dict:
        return any(values_equal(i, x) for i in v.values())
    raise expected("string, array or object", v)


@method("slice", "low", Param("high", None))
def slice_(v: Any, low: Any, high: Any) -> Any:
    if type(v) not in (str, bytes, list):
        raise expected("string, bytes or array", v)
    lo = _int(low)
    n = len(v)
    hi = n if high is None else _int(high)
    if lo < 0:
        lo = max(n + lo, 0)
    if hi < 0:
        hi = n + hi
    hi = min(hi, n)
    if lo > hi:
        raise QueryError(f"lower slice bound {lo} must be lower than or equal to upper bound ({hi}) and target length ({n})")
    return v[lo:hi]


@method("length")
def length(v: Any) -> int:
    t = type(v)
    if t in (str, bytes, list, dict):
        return len(v)
    raise expected("string, bytes, array or object", v)


_FMT_RE = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: list[Any]) -> str:
    """A subset of Go's fmt.Sprintf: %v %s %d %f %e %g %q %x %X %t %o %b %c %T and %%."""
    out = []
    pos = 0
    ai = 0
    for m in _FMT_RE.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[ai]
        ai += 1
        pyflags = flags.replace("#", "")
        spec_w = width or ""
        if verb in "vs":
            text = to_string(a)
            if prec:
                text = text[: int(prec)]
        elif verb == "d":
            text = format(a, f"{pyflags}{spec_w}d") if type(a) is int else f"%!d({type_name(a)}={to_string(a)})"
            spec_w = ""
        elif verb in "feEgG":
            if is_number(a):
                if verb in "gG" and not prec:
                    text = to_string(float(a))
                else:
                    text = format(float(a), f"{pyflags}{spec_w}.{prec or 6}{verb}")
                spec_w = ""
            else:
                text = f"%!{verb}({type_name(a)}={to_string(a)})"
        elif verb == "q":
            text = go_quote(to_string(a)) if not is_number(a) else repr(chr(int(a)))
        elif verb in "xX":
            if type(a) is int:
                text = format(a, verb)
            else:
                text = _bytes(a).hex()
                text = text.upper() if verb == "X" else text
        elif verb == "o":
            text = format(_int(a), "o")
        elif verb == "b":
            text = format(_int(a), "b")
        elif verb == "c":
            text = chr(_int(a))
        elif verb == "t":
            text = to_string(a) if type(a) is bool else f"%!t({type_name(a)}={to_string(a)})"
        elif verb == "T":
            text = {"string": "string", "number": "float64" if type(a) is float else "int64",
                    "bool": "bool", "null": "<nil>", "array": "[]interface {}",
                    "object": "map[string]interface {}"}.get(type_name(a), type_name(a))
        else:
            text = f"%!{verb}({type_name(a)}={to_string(a)})"
        if spec_w:
            w = int(spec_w)
            text = text.ljust(w) if "-" in flags else (text.rjust(w, "0") if "0" in flags else text.rjust(w))
        out.append(text)
    out.append(fmt[pos:])
    if ai < len(args):
        extra = ", ".join(f"{'string' if type(a) is str else type_name(a)}={to_string(a)}" for a in args[ai:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


@method("format", variadic=True)
def format_(v: Any, *args: Any) -> str:
    return go_sprintf(_str(v), list(args))


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    # Go's RE2 spells a few constructs differently from Python's re.
    py = pattern.replace(r"\z", r"\Z")
    try:
        return re.compile(py)
    except re.error as exc:
        raise QueryError(f"failed to compile regular expression {pattern!r}: {exc}") from None


_GO_TEMPLATE = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def _go_expand(template: str, m: re.Match[str]) -> str:
    def sub(t: re.Match[str]) -> str:
        if t.group(1) == "$":
            return "$"
        name = t.group(2) or t.group(3)
        try:
            g = m.group(int(name)) if name.isdigit() else m.group(name)
        except (IndexError, re.error):
            return ""
        return g or ""

    return _GO_TEMPLATE.sub(sub, template)



@method("re_match", "pattern")
def re_match(v: Any, pattern: Any) -> bool:
    return _regex(_str(pattern)).search(_str(v)) is not None


@method("re_replace_all", "pattern", "value", aliases=("re_replace",))
def re_replace_all(v: Any, pattern: Any, value: Any) -> Any:
    tmpl = _str(value)
    return _same_kind(v, _regex(_str(pattern)).sub(lambda m: _go_expand(tmpl, m), _str(v)))


@method("re_find_all", "pattern")
def re_find_all(v: Any, pattern: Any) -> list[str]:
    return [m.group(0) for m in _regex(_str(pattern)).finditer(_str(v))]


@method("re_find_all_submatch", "pattern")
def re_find_all_submatch(v: Any, pattern: Any) -> list[list[str]]:
    return [[m.group(0), *[g or "" for g in m.groups()]] for m in _regex(_str(pattern)).finditer(_str(v))]


def _match_object(rx: re.Pattern[str], m: re.Match[str]) -> dict[str, str]:
    out = {"0": m.group(0)}
    names = {i: n for n, i in rx.groupindex.items()}
    for i in range(1, (rx.groups or 0) + 1):
        out[names.get(i, str(i))] = m.group(i) or ""
    return out


@method("re_find_object", "pattern")
def re_find_object(v: Any, pattern: Any) -> dict[str, str]:
    rx = _regex(_str(pattern))
    m = rx.search(_str(v))
    return _match_object(rx, m) if m else {}


@method("re_find_all_object", "pattern")
def re_find_all_object(v: Any, pattern: Any) -> list[dict[str, str]]:
    rx = _regex(_str(pattern))
    return [_match_object(rx, m) for m in rx.finditer(_str(v))]


def go_quote(s: str) -> str:
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c in "\a\b\f\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not c.isprintable() and o > 0x7F:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


@method("quote")
def quote(v: Any) -> str:
    return go_quote(_str(v))


@method("unquote")
def unquote_(v: Any) -> str:
    s = _str(v)
    if len(s) >= 2 and s[0] == s[-1] == "`":
        return s[1:-1]
    from .lexer import _read_string
    from .errors import ParseError

    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise QueryError("invalid syntax")
    try:
        value, end = _read_string(s, 0)
    except ParseError:
        raise QueryError("invalid syntax") from None
    if end != len(s):
        raise QueryError("invalid syntax")
    return value


@method("escape_html")
def escape_html(v: Any) -> str:
    # Go's html.EscapeString escapes exactly these five characters.
    return (_str(v).replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;"))


@method("unescape_html")
def unescape_html(v: Any) -> Any:
    return _same_kind(v, html.unescape(_str(v)))


@method("escape_url_query")
def escape_url_query(v: Any) -> str:
    return quote_plus(_str(v), safe="-_.~")


@method("unescape_url_query")
def unescape_url_query(v: Any) -> str:
    return unquote_plus(_str(v), errors="strict")


@method("escape_url_path")
def escape_url_path(v: Any) -> str:
    # Go's url.PathEscape keeps the sub-delims that are legal in a path segment.
    return url_quote(_str(v), safe="-_.~$&+=:@")


@method("unescape_url_path")
def unescape_url_path(v: Any) -> str:
    return unquote(_str(v), errors="strict")


@method("filepath_join")
def filepath_join(v: Any) -> str:
    import posixpath

    parts = [_str(p) for p in _arr(v)]
    joined = posixpath.join(*parts) if parts else ""
    return posixpath.normpath(joined) if joined else ""


@method("filepath_split")
def filepath_split(v: Any) -> list[str]:
    s = _str(v)
    i = s.rfind("/") + 1
    return [s[:i], s[i:]]


_SLUG_SUBS = {"en": {"&": "and", "@": "at"}, "fr": {"&": "et", "@": "arobase"},
              "de": {"&": "und", "@": "an"}, "es": {"&": "y", "@": "en"}}


@method("slug", Param("lang", "en"))
def slug(v: Any, lang: Any) -> str:
    import unicodedata

    s = _str(v)
    for k, rep in _SLUG_SUBS.get(_str(lang), _SLUG_SUBS["en"]).items():
        s = s.replace(k, f" {rep} ")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()
    s = s.replace("'", "")
    s = re.sub(r"[^a-z0-9]+", "-", s)
    return s.strip("-")


@method("unicode_segments", "segmentation_type")
def unicode_segments(v: Any, kind: Any) -> list[str]:
    s, k = _str(v), _str(kind)
    if k == "sentence":
        return [m.group(0) for m in re.finditer(r".*?(?:[.!?]+(?=\s|$)\s*|$)", s, re.S) if m.group(0)]
    if k == "word":
        return re.findall(r"\w+(?:[.,']\w+)*|\s+|[^\w\s]", s)
    if k == "grapheme":
        out: list[str] = []
        join_next = False
        import unicodedata

        for c in s:
            if out and (join_next or unicodedata.category(c) in ("Mn", "Me", "Cf") or
                        0xFE00 <= ord(c) <= 0xFE0F or 0x1F3FB <= ord(c) <= 0x1F3FF):
                out[-1] += c
            else:
                out.append(c)
            join_next = c == "\u200d"
        return out
    raise QueryError(f"unknown segmentation type {k!r}")


# -- numbers -------------------------------------------------------------------
def _round_half_away(f: float) -> int:
    return int(math.floor(f + 0.5)) if f >= 0 else -int(math.floor(-f + 0.5))


@method("floor")
def floor(v: Any) -> Any:
    n = _num(v)
    return n if type(n) is int else math.floor(n)


@method("ceil")
def ceil(v: Any) -> Any:
    n = _num(v)
    return n if type(n) is int else math.ceil(n)


@method("round", Param("precision", 0))
def round_(v: Any, precision: Any) -> Any:
    n = _num(v)
    p = _int(precision)
    if type(n) is int:
        return n
    if p == 0:
        return _round_half_away(n)
    scale = 10 ** p
    return norm_float(_round_half_away(n * scale) / scale)


@method("abs")
def abs_(v: Any) -> Any:
    return abs(_num(v))


def _parse_number(s: str) -> int | float:
    s = s.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        raise QueryError(f"failed to parse {s!r} as a number") from None
    return norm_float(f)


@method("number", Param("default", None))
def number(v: Any, default: Any) -> Any:
    t = type(v)
    try:
        if t is int:
            return v
        if t is float:
            return norm_float(v)
        if t is str or t is bytes:
            return _parse_number(_str(v))
        if t is bool:
            return 1 if v else 0
        raise expected("number", v)
    except QueryError:
        if default is not None:
            return default
        raise


def _to_int(v: Any, bits: int, signed: bool) -> int:
    t = type(v)
    if t is int:
        n = v
    elif t is float:
        if not v.is_integer():
            raise QueryError(f"value {to_string(v)} has a fractional part and cannot be converted to an integer")
        n = int(v)
    elif t is str or t is bytes:
        s = _str(v).strip()
        try:
            n = int(s, 0)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                raise QueryError(f"failed to parse {s!r} as an integer") from None
            if not f.is_integer():
                raise QueryError(f"value {s} has a fractional part and cannot be converted to an integer") from None
            n = int(f)
    else:
        raise expected("number", v)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= n <= hi:
        kind = f"{'int' if signed else 'uint'}{bits}"
        raise QueryError(f"value {n} does not fit in {kind}")
    return n


for _bits in (8, 16, 32, 64):
    for _signed in (True, False):
        method(f"{'int' if _signed else 'uint'}{_bits}")(
            lambda v, _b=_bits, _s=_signed: _to_int(v, _b, _s))


@method("float64")
def float64(v: Any) -> Any:
    t = type(v)
    if t is int or t is float:
        return norm_float(float(v))
    if t is str or t is bytes:
        try:
            return norm_float(float(_str(v).strip()))
        except ValueError:
            raise QueryError(f"failed to parse {_str(v)!r} as a float") from None
    raise expected("number", v)


@method("float32")
def float32(v: Any) -> Any:
    import struct

    f = float64(v)
    f32 = struct.unpack("f", struct.pack("f", float(f)))[0]
    # Print with float32 precision, as Go does for a float32 value.
    return norm_float(float(f"{f32:.7g}"))


def _math(fn: Callable[[float], float]) -> Callable[[Any], Any]:
    def impl(v: Any) -> Any:
        try:
            return norm_float(fn(_num(v)))
        except (ValueError, OverflowError) as exc:
            raise QueryError(str(exc)) from None

    return impl


method("log")(_math(math.log))
method("log10")(_math(math.log10))
method("sin")(_math(math.sin))
method("cos")(_math(math.cos))
method("tan")(_math(math.tan))


@method("pow", "exponent")
def pow_(v: Any, exp: Any) -> Any:
    try:
        return norm_float(math.pow(_num(v), _num(exp)))
    except (ValueError, OverflowError) as exc:
        raise QueryError(str(exc)) from None


@method("bitwise_and", "value")
def bitwise_and(v: Any, x: Any) -> int:
    return _int(v) & _int(x)


@method("bitwise_or", "value")
def bitwise_or(v: Any, x: Any) -> int:
    return _int(v) | _int(x)


@method("bitwise_xor", "value")
def bitwise_xor(v: Any, x: Any) -> int:
    return _int(v) ^ _int(x)


# -- types and conversion -------------------------------------------------------
@method("type")
def type_(v: Any) -> str:
    return type_name(v)


@method("string")
def string(v: Any) -> str:
    return to_string(v)


@method("bytes")
def bytes_(v: Any) -> bytes:
    return _bytes(v)


@method("bool", Param("default", None))
def bool_(v: Any, default: Any) -> bool:
    t = type(v)
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    if t is str or t is bytes:
        s = _str(v)
        if s in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if s in ("0", "f", "F", "FALSE", "false", "False"):
            return False
    if default is not None:
        return default
    raise expected("bool", v)


@method("array")
def array(v: Any) -> list[Any]:
    return v if type(v) is list else [v]


@method("not_null")
def not_null(v: Any) -> Any:
    if v is None:
        raise QueryError("value is null")
    return v


@method("not_empty")
def not_empty(v: Any) -> Any:
    t = type(v)
    if t not in (str, bytes, list, dict):
        raise expected("string, array or object", v)
    if not v:
        raise QueryError(f"{type_name(v)} value is empty")
    return v


# -- arrays and objects ---------------------------------------------------------
@method("map_each", Q("query"))
def map_each(v: Any, fn: Callable[[Any], Any]) -> Any:
    t = type(v)
    if t is list:
        out = []
        for item in v:
            r = fn(item)
            if r is DELETED:
                continue
            out.append(item if r is NOTHING else r)
        return out
    if t is dict:
        out_d = {}
        for k, item in v.items():
            r = fn({"key": k, "value": item})
            if r is DELETED:
                continue
            out_d[k] = item if r is NOTHING else r
        return out_d
    raise expected("array or object", v)


@method("map_each_key", Q("query"))
def map_each_key(v: Any, fn: Callable[[Any], Any]) -> dict[str, Any]:
    out = {}
    for k, item in _obj(v).items():
        r = fn(k)
        if r is DELETED:
            continue
        if r is NOTHING:
            r = k
        if type(r) is not str:
            raise QueryError(f"unexpected result from key mapping: {expected('string', r)}")
        out[r] = item
    return out


@method("filter", Q("test"))
def filter_(v: Any, fn: Callable[[Any], Any]) -> Any:
    t = type(v)
    if t is list:
        return [i for i in v if _bool(fn(i))]
    if t is dict:
        return {k: i for k, i in v.items() if _bool(fn({"key": k, "value": i}))}
    raise expected("array or object", v)


@method("fold", "initial", Q("query"))
def fold(v: Any, initial: Any, fn: Callable[[Any], Any]) -> Any:
    tally = initial
    for item in _arr(v):
        tally = fn({"tally": tally, "value": item})
    return tally


@method("any", Q("test"))
def any_(v: Any, fn: Callable[[Any], Any]) -> bool:
    return any(_bool(fn(i)) for i in _arr(v))


@method("all", Q("test"))
def all_(v: Any, fn: Callable[[Any], Any]) -> bool:
    return all(_bool(fn(i)) for i in _arr(v))


def _sort_key(v: Any) -> Any:
    t = type(v)
    if t is int or t is float:
        return (0, v)
    if t is str or t is bytes:
        return (1, _str(v))
    raise QueryError(f"expected number or string value to sort, got {describe(v)}")


def _check_homogeneous(keys: list[Any]) -> None:
    kinds = {k[0] for k in keys}
    if len(kinds) > 1:
        raise QueryError("cannot sort an array of mixed numbers and strings")


@method("sort", Q("compare", None))
def sort(v: Any, cmp: Any) -> list[Any]:
    items = list(_arr(v))
    if cmp is None:
        keys = [_sort_key(i) for i in items]
        _check_homogeneous(keys)
        order = sorted(range(len(items)), key=lambda i: keys[i])
        return [items[i] for i in order]
    import functools

    def compare(a: Any, b: Any) -> int:
        if _bool(cmp({"left": a, "right": b})):
            return -1
        if _bool(cmp({"left": b, "right": a})):
            return 1
        return 0

    return sorted(items, key=functools.cmp_to_key(compare))


@method("sort_by", Q("query"))
def sort_by(v: Any, fn: Callable[[Any], Any]) -> list[Any]:
    items = list(_arr(v))
    keys = [_sort_key(fn(i)) for i in items]
    _check_homogeneous(keys)
    order = sorted(range(len(items)), key=lambda i: keys[i])
    return [items[i] for i in order]


def _hashable(v: Any) -> Any:
    t = type(v)
    if t is float and v.is_integer():
        return int(v)
    if t in (list, dict):
        return to_json(v)
    return (t is bool, v)


@method("unique", Q("emit", None))
def unique(v: Any, fn: Any) -> list[Any]:
    seen = set()
    out = []
    for item in _arr(v):
        key = item if fn is None else fn(item)
        if type(key) not in (str, bytes, int, float):
            raise QueryError(f"expected string or number value to compare, got {describe(key)}")
        h = _hashable(key)
        if h not in seen:
            seen.add(h)
            out.append(item)
    return out


@method("flatten")
def flatten(v: Any) -> list[Any]:
    out: list[Any] = []
    for item in _arr(v):
        if type(item) is list:
            out.extend(item)
        else:
            out.append(item)
    return out


@method("index", "index")
def index(v: Any, i: Any) -> Any:
    n = _int(i)
    if type(v) not in (list, bytes, str):
        raise expected("array", v)
    if not -len(v) <= n < len(v):
        raise QueryError(f"index {n} out of bounds for array of length {len(v)}")
    return v[n]


@method("keys")
def keys(v: Any) -> list[str]:
    return sorted(_obj(v))


@method("values")
def values(v: Any) -> list[Any]:
    o = _obj(v)
    return [o[k] for k in sorted(o)]


@method("key_values")
def key_values(v: Any) -> list[dict[str, Any]]:
    o = _obj(v)
    return [{"key": k, "value": o[k]} for k in sorted(o)]


def _split_path(path: str) -> list[str]:
    return path.split(".") if path else []


def _without(v: Any, path: list[str]) -> Any:
    if type(v) is not dict or not path:
        return v
    head = path[0]
    if head not in v:
        return v
    out = dict(v)
    if len(path) == 1:
        del out[head]
    else:
        out[head] = _without(v[head], path[1:])
    return out


@method("without", variadic=True)
def without(v: Any, *paths: Any) -> dict[str, Any]:
    out = _obj(v)
    for p in paths:
        out = _without(out, _split_path(_str(p)))
    return out


@method("with", variadic=True)
def with_(v: Any, *paths: Any) -> dict[str, Any]:
    src = _obj(v)
    out: dict[str, Any] = {}
    for p in paths:
        segs = _split_path(_str(p))
        cur: Any = src
        for s in segs:
            if type(cur) is not dict or s not in cur:
                break
            cur = cur[s]
        else:
            if segs:
                dst = out
                for s in segs[:-1]:
                    dst = dst.setdefault(s, {})
                dst[segs[-1]] = cur
    return out


def _merge(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is dict and tb is dict:
        out = dict(a)
        for k, bv in b.items():
            out[k] = _merge(out[k], bv) if k in out else bv
        return out
    if ta is list:
        return a + b if tb is list else a + [b]
    if tb is list:
        return [a] + b
    return [a, b]


@method("merge", "with")
def merge(v: Any, other: Any) -> Any:
    return _merge(v, other)


def _assign(a: Any, b: Any) -> Any:
    if type(a) is dict and type(b) is dict:
        out = dict(a)
        for k, bv in b.items():
            out[k] = _assign(out[k], bv) if k in out else bv
        return out
    if type(a) is list and type(b) is list:
        return a + b
    return b


@method("assign", "with")
def assign(v: Any, other: Any) -> Any:
    return _assign(v, other)


def _lookup(v: Any, path: str) -> tuple[bool, Any]:
    cur = v
    for s in _split_path(path):
        if type(cur) is dict:
            if s not in cur:
                return False, None
            cur = cur[s]
        elif type(cur) is list and s.lstrip("-").isdigit() and -len(cur) <= int(s) < len(cur):
            cur = cur[int(s)]
        else:
            return False, None
    return True, cur


@method("exists", "path")
def exists(v: Any, path: Any) -> bool:
    return _lookup(v, _str(path))[0]


@method("get", "path")
def get(v: Any, path: Any) -> Any:
    return _lookup(v, _str(path))[1]


def _set(v: Any, segs: list[str], value: Any) -> Any:
    if not segs:
        return value
    head, rest = segs[0], segs[1:]
    if type(v) is list and head.isdigit() and int(head) < len(v):
        out_l = list(v)
        if value is DELETED and not rest:
            del out_l[int(head)]
        else:
            out_l[int(head)] = _set(v[int(head)], rest, value)
        return out_l
    out = dict(v) if type(v) is dict else {}
    if value is DELETED and not rest:
        out.pop(head, None)
    else:
        out[head] = _set(out.get(head), rest, value)
    return out


@method("set", "path", "value")
def set_(v: Any, path: Any, value: Any) -> Any:
    return _set(v, _split_path(_str(path)), value)


@method("append", variadic=True)
def append(v: Any, *items: Any) -> list[Any]:
    return _arr(v) + list(items)


@method("concat", variadic=True)
def concat(v: Any, *arrays: Any) -> list[Any]:
    out = list(_arr(v))
    for a in arrays:
        out.extend(_arr(a))
    return out


@method("zip", variadic=True)
def zip_(v: Any, *arrays: Any) -> list[list[Any]]:
    all_arrays = [_arr(v), *(_arr(a) for a in arrays)]
    if len({len(a) for a in all_arrays}) > 1:
        raise QueryError("can't zip arrays of different lengths")
    return [list(t) for t in zip(*all_arrays)]


@method("sum")
def sum_(v: Any) -> Any:
    total: Any = 0
    for item in _arr(v):
        total += _num(item)
    return norm_float(total) if type(total) is float else total


@method("max")
def max_(v: Any) -> Any:
    items = _arr(v)
    if not items:
        raise QueryError("the array was empty")
    return max((_num(i) for i in items))


@method("min")
def min_(v: Any) -> Any:
    items = _arr(v)
    if not items:
        raise QueryError("the array was empty")
    return min((_num(i) for i in items))


@method("enumerated")
def enumerated(v: Any) -> list[dict[str, Any]]:
    return [{"index": i, "value": item} for i, item in enumerate(_arr(v))]


@method("find", "value")
def find(v: Any, x: Any) -> int:
    for i, item in enumerate(_arr(v)):
        if callable(x) and not isinstance(x, (str, bytes)):
            if _bool(x(item)):
                return i
        elif values_equal(item, x):
            return i
    return -1


@method("find_all", "value")
def find_all(v: Any, x: Any) -> list[int]:
    if callable(x):
        return [i for i, item in enumerate(_arr(v)) if _bool(x(item))]
    return [i for i, item in enumerate(_arr(v)) if values_equal(item, x)]


@method("find_by", Q("query"))
def find_by(v: Any, fn: Callable[[Any], Any]) -> int:
    for i, item in enumerate(_arr(v)):
        if _bool(fn(item)):
            return i
    return -1


@method("find_all_by", Q("query"))
def find_all_by(v: Any, fn: Callable[[Any], Any]) -> list[int]:
    return [i for i, item in enumerate(_arr(v)) if _bool(fn(item))]


def _collapse(v: Any, prefix: str, out: dict[str, Any], include_empty: bool) -> None:
    t = type(v)
    if t is dict:
        if not v and include_empty and prefix:
            out[prefix] = {}
        for k, item in v.items():
            _collapse(item, f"{prefix}.{k}" if prefix else k, out, include_empty)
    elif t is list:
        if not v and include_empty and prefix:
            out[prefix] = []
        for i, item in enumerate(v):
            _collapse(item, f"{prefix}.{i}" if prefix else str(i), out, include_empty)
    else:
        out[prefix] = v


@method("collapse", Param("include_empty", False))
def collapse(v: Any, include_empty: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _collapse(v, "", out, _bool(include_empty))
    return out


@method("explode", "path")
def explode(v: Any, path: Any) -> Any:
    segs = _split_path(_str(path))
    found, target = _lookup(v, _str(path))
    if type(target) is list:
        return [_set(v, segs, item) for item in target]
    if type(target) is dict:
        return {k: _set(v, segs, item) for k, item in target.items()}
    raise QueryError(f"expected array or object value at path {_str(path)}, got {describe(target)}")


@method("squash")
def squash(v: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _arr(v):
        out = _merge(out, _obj(item))
    return out


@method("apply", "mapping", ctx=True)
def apply(ctx: Any, v: Any, name: Any) -> Any:
    from .compiler import run_map

    return run_map(ctx, _str(name), v)


@lru_cache(maxsize=128)
def _compiled_bloblang(src: str) -> Any:
    from . import compile_mapping

    return compile_mapping(src)


@method("bloblang", "mapping", ctx=True)
def bloblang(ctx: Any, v: Any, src: Any) -> Any:
    from .compiler import Context
    from .errors import ParseError

    try:
        m = _compiled_bloblang(_str(src))
    except ParseError as exc:
        raise QueryError(f"failed to parse mapping: {exc}") from None
    sub = Context(ctx.msg, ctx.batch, ctx.index, m._maps, {})
    for stmt in m._stmts:
        stmt(sub, v)
    return None if sub.root is NOTHING else sub.root


# -- encoding and serialisation ------------------------------------------------
_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64": base64.b64encode,
    "base64url": base64.urlsafe_b64encode,
    "base64rawurl": lambda b: base64.urlsafe_b64encode(b).rstrip(b"="),
    "base64raw": lambda b: base64.b64encode(b).rstrip(b"="),
    "hex": lambda b: b.hex().encode(),
    "ascii85": base64.a85encode,
    "z85": base64.z85encode if hasattr(base64, "z85encode") else base64.b85encode,
    "base32": base64.b32encode,
    "base32hex": base64.b32hexencode,
}


def _pad(b: bytes) -> bytes:
    return b + b"=" * (-len(b) % 4)


_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64": lambda b: base64.b64decode(b, validate=True),
    "base64url": base64.urlsafe_b64decode,
    "base64rawurl": lambda b: base64.urlsafe_b64decode(_pad(b)),
    "base64raw": lambda b: base64.b64decode(_pad(b)),
    "hex": binascii.unhexlify,
    "ascii85": base64.a85decode,
    "base32": base64.b32decode,
    "base32hex": base64.b32hexdecode,
}


@method("encode", "scheme")
def encode(v: Any, scheme: Any) -> str:
    enc = _ENCODERS.get(_str(scheme))
    if enc is None:
        raise QueryError(f"unrecognised encoding type: {_str(scheme)}")
    return enc(_bytes(v)).decode()


@method("decode", "scheme")
def decode(v: Any, scheme: Any) -> bytes:
    dec = _DECODERS.get(_str(scheme))
    if dec is None:
        raise QueryError(f"unrecognised encoding type: {_str(scheme)}")
    try:
        return dec(_bytes(v))
    except (ValueError, binascii.Error) as exc:
        raise QueryError(f"failed to decode {_str(scheme)}: {exc}") from None


def _crc32_table(poly: int) -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_POLYS = {"IEEE": 0xEDB88320, "Castagnoli": 0x82F63B78, "Koopman": 0xEB31D82E}
_crc_tables: dict[str, list[int]] = {}


def _crc32(data: bytes, poly: str) -> bytes:
    if poly == "IEEE":
        return zlib.crc32(data).to_bytes(4, "big")
    if poly not in _CRC_POLYS:
        raise QueryError(f"unsupported crc32 polynomial {poly}")
    table = _crc_tables.get(poly) or _crc_tables.setdefault(poly, _crc32_table(_CRC_POLYS[poly]))
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return (crc ^ 0xFFFFFFFF).to_bytes(4, "big")


def _fnv(data: bytes, bits: int, variant_a: bool) -> bytes:
    prime, offset = ((0x01000193, 0x811C9DC5) if bits == 32 else
                     (0x100000001B3, 0xCBF29CE484222325))
    mask = (1 << bits) - 1
    h = offset
    for b in data:
        if variant_a:
            h = ((h ^ b) * prime) & mask
        else:
            h = ((h * prime) & mask) ^ b
    return h.to_bytes(bits // 8, "big")


@method("hash", "algorithm", Param("key", None), Param("polynomial", "IEEE"))
def hash_(v: Any, algorithm: Any, key: Any, polynomial: Any) -> bytes:
    data = _bytes(v)
    algo = _str(algorithm)
    if algo.startswith("hmac_"):
        if key is None:
            raise QueryError(f"hash algorithm {algo} requires a key argument")
        digest = {"hmac_sha1": "sha1", "hmac_sha256": "sha256", "hmac_sha512": "sha512",
                  "hmac_md5": "md5"}.get(algo)
        if digest is None:
            raise QueryError(f"unrecognised hash type: {algo}")
        return hmac.new(_bytes(key), data, digest).digest()
    if algo in ("md5", "sha1", "sha256", "sha512", "sha224", "sha384"):
        return hashlib.new(algo, data).digest()
    if algo == "crc32":
        return _crc32(data, _str(polynomial))
    if algo in ("fnv32", "fnv32a", "fnv64", "fnv64a"):
        return _fnv(data, 32 if "32" in algo else 64, algo.endswith("a"))
    raise QueryError(f"unrecognised hash type: {algo}")


@method("parse_json", Param("use_number", False))
def parse_json(v: Any, use_number: Any) -> Any:
    try:
        return msgspec.json.decode(_bytes(v))
    except msgspec.DecodeError as exc:
        raise QueryError(f"failed to parse value as JSON: {exc}") from None


def go_json(v: Any, indent: str | None, escape_html: bool) -> str:
    """JSON text as Go's encoding/json writes it (sorted keys, optional indent)."""
    import json

    from .values import exportable

    v = exportable(v)
    if indent is None:
        text = json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                          default=to_string)
    else:
        text = json.dumps(v, ensure_ascii=False, sort_keys=True, indent=indent,
                          separators=(",", ": "), default=to_string)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        # These characters can only occur inside JSON strings, so a plain replace is safe.
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


@method("format_json", Param("indent", "    "), Param("no_indent", False), Param("escape_html", True))
def format_json(v: Any, indent: Any, no_indent: Any, escape_html: Any) -> bytes:
    return go_json(v, None if _bool(no_indent) else _str(indent), _bool(escape_html)).encode()


@method("parse_yaml")
def parse_yaml(v: Any) -> Any:
    import yaml

    try:
        return yaml.safe_load(_bytes(v))
    except yaml.YAMLError as exc:
        raise QueryError(f"failed to parse value as YAML: {exc}") from None


@method("format_yaml")
def format_yaml(v: Any) -> bytes:
    import yaml

    from .values import exportable

    return yaml.safe_dump(exportable(v), sort_keys=True, allow_unicode=True,
                          default_flow_style=False).encode()


@method("parse_msgpack")
def parse_msgpack(v: Any) -> Any:
    try:
        return msgspec.msgpack.decode(_bytes(v))
    except msgspec.DecodeError as exc:
        raise QueryError(f"failed to parse value as MessagePack: {exc}") from None


@method("format_msgpack")
def format_msgpack(v: Any) -> bytes:
    from .values import exportable

    return msgspec.msgpack.encode(exportable(v))


@method("parse_csv", Param("parse_header_row", True), Param("delimiter", ","), Param("lazy_quotes", False))
def parse_csv(v: Any, header: Any, delimiter: Any, lazy_quotes: Any) -> list[Any]:
    text = _str(v)
    d = _str(delimiter)
    if len(d) != 1:
        raise QueryError("delimiter must be a single character")
    rows: list[list[str]]
    if _bool(lazy_quotes):
        # Go's LazyQuotes keeps quotes that appear inside unquoted fields as literal text.
        rows = [line.split(d) for line in text.splitlines() if line]
    else:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=d, strict=True) if r]
        except csv.Error as exc:
            raise QueryError(f"failed to parse CSV: {exc}") from None
    if not _bool(header):
        return rows
    if not rows:
        return []
    head = rows[0]
    out = []
    for r in rows[1:]:
        if len(r) != len(head):
            raise QueryError(f"record has {len(r)} fields, header has {len(head)}")
        out.append(dict(zip(head, r)))
    return out


_LOGFMT_RE = re.compile(r'([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|\S*))?')


@method("parse_logfmt")
def parse_logfmt(v: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in _LOGFMT_RE.finditer(_str(v)):
        key, val = m.group(1), m.group(2)
        if val is None:
            out[key] = True
        elif val.startswith('"'):
            out[key] = unquote_(val)
        else:
            out[key] = val
    return out


@method("parse_form_url_encoded")
def parse_form_url_encoded(v: Any) -> dict[str, Any]:
    from urllib.parse import parse_qsl

    out: dict[str, Any] = {}
    for k, val in parse_qsl(_str(v), keep_blank_values=True):
        if k in out:
            prev = out[k]
            out[k] = prev + [val] if type(prev) is list else [prev, val]
        else:
            out[k] = val
    return out


@method("parse_url")
def parse_url(v: Any) -> dict[str, Any]:
    from urllib.parse import urlsplit

    s = _str(v)
    before_fragment = s.partition("#")[0]
    bad = re.search(r"%(?![0-9A-Fa-f]{2}).{0,2}", before_fragment)
    if bad:
        raise QueryError(f'parse "{before_fragment}": invalid URL escape "{bad.group(0)}"')
    u = urlsplit(s)
    out: dict[str, Any] = {
        "scheme": u.scheme, "opaque": "", "host": u.netloc.rpartition("@")[2],
        "path": unquote(u.path), "raw_path": "", "raw_query": u.query,
        "fragment": unquote(u.fragment), "raw_fragment": "",
    }
    if u.username is not None:
        user: dict[str, Any] = {"name": unquote(u.username)}
        if u.password is not None:
            user["password"] = unquote(u.password)
        out["user"] = user
    return out


_COMPRESSORS = {
    "gzip": lambda b, lvl: __import__("gzip").compress(b, compresslevel=lvl),
    "zlib": lambda b, lvl: zlib.compress(b, lvl),
    "flate": lambda b, lvl: (lambda c: c.compress(b) + c.flush())(zlib.compressobj(lvl, zlib.DEFLATED, -15)),
}
_DECOMPRESSORS = {
    "gzip": lambda b: __import__("gzip").decompress(b),
    "zlib": zlib.decompress,
    "flate": lambda b: zlib.decompress(b, -15),
}


@method("compress", "algorithm", Param("level", -1))
def compress(v: Any, algorithm: Any, level: Any) -> bytes:
    fn = _COMPRESSORS.get(_str(algorithm))
    if fn is None:
        raise QueryError(f"unrecognised compression algorithm: {_str(algorithm)}")
    lvl = _int(level)
    return fn(_bytes(v), 9 if lvl < 0 and _str(algorithm) == "gzip" else lvl)


@method("decompress", "algorithm")
def decompress(v: Any, algorithm: Any) -> bytes:
    fn = _DECOMPRESSORS.get(_str(algorithm))
    if fn is None:
        raise QueryError(f"unrecognised compression algorithm: {_str(algorithm)}")
    try:
        return fn(_bytes(v))
    except (OSError, zlib.error, EOFError) as exc:
        raise QueryError(f"failed to decompress: {exc}") from None


# -- HTML and XML -----------------------------------------------------------------
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")
_DROP_CONTENT = ("script", "style")


@method("strip_html", Param("preserve", None))
def strip_html(v: Any, preserve: Any) -> Any:
    keep = {_str(p).lower() for p in _arr(preserve)} if preserve is not None else set()
    s = _str(v)
    for tag in _DROP_CONTENT:
        if tag not in keep:
            s = re.sub(rf"<{tag}\b[^>]*>.*?</{tag}\s*>", "", s, flags=re.S | re.I)
    s = _TAG_RE.sub(lambda m: m.group(0) if m.group(2).lower() in keep else "", s)
    return _same_kind(v, s)


@method("parse_big_decimal", Param("scale", 0))
def parse_big_decimal(v: Any, scale: Any) -> str:
    from decimal import Decimal

    n = int.from_bytes(_bytes(v), "big", signed=True)
    sc = _int(scale)
    return str(Decimal(n).scaleb(-sc)) if sc else str(n)


def _xml_cast(s: str) -> Any:
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return _parse_number(s)
    except QueryError:
        return s


def _xml_node(el: Any, cast: bool) -> Any:
    conv = _xml_cast if cast else (lambda x: x)
    out: dict[str, Any] = {f"-{k}": conv(val) for k, val in el.attrib.items()}
    for child in el:
        value = _xml_node(child, cast)
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = prev + [value] if type(prev) is list else [prev, value]
        else:
            out[child.tag] = value
    text = (el.text or "").strip()
    if not out:
        return conv(text) if text else ""
    if text:
        out["#text"] = conv(text)
    return out


@method("parse_xml", Param("cast", False))
def parse_xml(v: Any, cast: Any) -> Any:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(_bytes(v))
    except ET.ParseError as exc:
        raise QueryError(f"failed to parse value as XML: {exc}") from None
    return {root.tag: _xml_node(root, _bool(cast))}


def _xml_escape(s: str, attr: bool = False) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace('"', "&quot;") if attr else s


def _xml_element(tag: str, v: Any, indent: str | None, depth: int, out: list[str]) -> None:
    pad = "" if indent is None else indent * depth
    nl = "" if indent is None else "\n"
    if type(v) is list:
        for item in v:
            _xml_element(tag, item, indent, depth, out)
        return
    if type(v) is not dict:
        text = "" if v is None else to_string(v)
        out.append(f"{pad}<{tag}>{_xml_escape(text)}</{tag}>{nl}")
        return
    attrs = "".join(f' {k[1:]}="{_xml_escape(to_string(a), True)}"' for k, a in sorted(v.items())
                    if k.startswith("-"))
    children = [(k, c) for k, c in sorted(v.items()) if not k.startswith("-") and k != "#text"]
    text = v.get("#text")
    if not children:
        body = "" if text is None else _xml_escape(to_string(text))
        out.append(f"{pad}<{tag}{attrs}>{body}</{tag}>{nl}")
        return
    out.append(f"{pad}<{tag}{attrs}>{nl}")
    if text is not None:
        out.append(f"{pad}{indent or ''}{_xml_escape(to_string(text))}{nl}")
    for k, c in children:
        _xml_element(k, c, indent, depth + 1, out)
    out.append(f"{pad}</{tag}>{nl}")


@method("format_xml", Param("indent", "    "), Param("no_indent", False), Param("root_tag", None))
def format_xml(v: Any, indent: Any, no_indent: Any, root_tag: Any) -> bytes:
    doc = _obj(v)
    ind = None if _bool(no_indent) else _str(indent)
    # A single non-attribute key holding an object names the root element; otherwise wrap in <doc>.
    if root_tag is None and len(doc) == 1:
        (tag, body), = doc.items()
        if not tag.startswith("-") and type(body) is dict:
            root, content = tag, body
        else:
            root, content = "doc", doc
    else:
        root, content = (_str(root_tag) if root_tag is not None else "doc"), doc
    out: list[str] = []
    _xml_element(root, content, ind, 0, out)
    return "".join(out).rstrip("\n").encode()


# Methods backed by third-party libraries live in their own modules, registered on import.
from . import methods_compress, methods_crypto, methods_json  # noqa: F401
