"""Value model shared by the compiler, functions and methods.

Bloblang values are plain Python values: None, bool, int, float, str, bytes, list,
dict and ``Timestamp`` (nanosecond precision, with a time zone). Two sentinels stand for the
language's non-values: ``DELETED`` (from ``deleted()``) and ``NOTHING`` (an ``if``
without a matching branch), both of which make an assignment a removal or a no-op.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import orjson

from .errors import MappingError


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


DELETED: Any = _Sentinel("deleted")
NOTHING: Any = _Sentinel("nothing")


class Timestamp:
    """A point in time as Unix nanoseconds plus the zone it is shown in."""

    __slots__ = ("ns", "tz")

    def __init__(self, ns: int, tz: tzinfo = timezone.utc) -> None:
        self.ns = ns
        self.tz = tz

    @classmethod
    def from_datetime(cls, dt: datetime, nanos: int | None = None) -> "Timestamp":
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        delta = dt - _EPOCH
        secs = delta.days * 86400 + delta.seconds
        frac = delta.microseconds * 1000 if nanos is None else nanos
        return cls(secs * 1_000_000_000 + frac, dt.tzinfo)

    def datetime(self) -> datetime:
        secs, frac = divmod(self.ns, 1_000_000_000)
        return (_EPOCH + timedelta(seconds=secs, microseconds=frac // 1000)).astimezone(self.tz)

    @property
    def nanosecond(self) -> int:
        return self.ns % 1_000_000_000

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timestamp) and self.ns == other.ns

    def __lt__(self, other: "Timestamp") -> bool:
        return self.ns < other.ns

    def __le__(self, other: "Timestamp") -> bool:
        return self.ns <= other.ns

    def __gt__(self, other: "Timestamp") -> bool:
        return self.ns > other.ns

    def __ge__(self, other: "Timestamp") -> bool:
        return self.ns >= other.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def __repr__(self) -> str:
        return f"Timestamp({format_rfc3339(self)})"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class QueryError(MappingError):
    """A failure inside an expression; statements add the line number when it escapes."""


def type_name(v: Any) -> str:
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "bool"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is bytes:
        return "bytes"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    if t is Timestamp:
        return "timestamp"
    if v is DELETED:
        return "delete"
    if v is NOTHING:
        return "nothing"
    if callable(v):
        return "lambda"
    return "unknown"


def describe(v: Any) -> str:
    """``string ("foo")``-style description of a value for error messages."""
    name = type_name(v)
    if name in ("string", "bytes"):
        text = v if isinstance(v, str) else v.decode("utf-8", "replace")
        if len(text) > 40:
            text = text[:37] + "..."
        return f"{name} ({json_string(text)})"
    if name in ("number", "bool"):
        return f"{name} ({to_string(v)})"
    return name


def expected(want: str, got: Any) -> QueryError:
    return QueryError(f"expected {want} value, got {describe(got)}")


def is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def norm_float(f: float) -> int | float:
    """Float results that are whole numbers become ints.

    Bento keeps numbers as float64 but prints whole ones without a fraction (``4 / 2``
    serialises as ``2``); returning ints keeps our output bytes the same as Bento's.
    """
    if f.is_integer() and -9007199254740992.0 <= f <= 9007199254740992.0:
        return int(f)
    return f


def format_float(f: float) -> str:
    """Format a float the way Go's encoding/json does."""
    if math.isnan(f) or math.isinf(f):
        return "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = repr(f)
        if "e" not in s:
            s = f"{f:e}"
        mant, _, exp = s.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        return f"{mant}e{sign}{digits}"
    if f.is_integer():
        return str(int(f))
    s = repr(f)
    if "e" in s:
        s = format(Decimal(s), "f")
    return s


def to_string(v: Any) -> str:
    """Bloblang's string conversion (``.string()``, interpolation, ``%v``)."""
    t = type(v)
    if t is str:
        return v
    if t is bytes:
        return v.decode("utf-8", "replace")
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_float(v)
    if v is None:
        return "null"
    if t is Timestamp:
        return format_rfc3339(v)
    if t is list or t is dict:
        return to_json(v).decode()
    return str(v)


def to_bytes(v: Any) -> bytes:
    if type(v) is bytes:
        return v
    return to_string(v).encode()


def json_string(s: str) -> str:
    return orjson.dumps(s).decode()


def format_rfc3339(ts: Timestamp) -> str:
    """RFC 3339 with trimmed nanosecond fraction (Go's time.RFC3339Nano)."""
    dt = ts.datetime()
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.nanosecond:
        base += ("." + f"{ts.nanosecond:09d}").rstrip("0")
    off = dt.utcoffset()
    if off is None or not off:
        return base + "Z"
    total = int(off.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{base}{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


def exportable(v: Any) -> Any:
    """Make a value JSON-serialisable: timestamps to RFC 3339 strings, bytes to text.

    Returns the very same object when nothing needed changing.
    """
    t = type(v)
    if t is dict:
        for item in v.values():  # the common case, a document of plain values: nothing to do
            ti = type(item)
            if ti is dict or ti is list or ti is Timestamp or ti is bytes:
                break
        else:
            return v
        out = None
        for k, item in v.items():
            new = exportable(item)
            if new is not item:
                if out is None:
                    out = dict(v)
                out[k] = new
        return v if out is None else out
    if t is list:
        out_l = None
        for i, item in enumerate(v):
            new = exportable(item)
            if new is not item:
                if out_l is None:
                    out_l = list(v)
                out_l[i] = new
        return v if out_l is None else out_l
    if t is Timestamp:
        return format_rfc3339(v)
    if t is bytes:
        return v.decode("utf-8", "replace")
    return v


def to_json(v: Any) -> bytes:
    try:
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return orjson.dumps(exportable(v), option=orjson.OPT_SORT_KEYS)


def values_equal(a: Any, b: Any) -> bool:
    """Bloblang ``==``: numbers compare by value, other types must match exactly."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list:
            return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
        if ta is dict:
            return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
        return a == b
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a == b
    if ta is bytes and tb is str:
        return a == b.encode()
    if ta is str and tb is bytes:
        return a.encode() == b
    return False


def deep_copy(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: deep_copy(x) for k, x in v.items()}
    if t is list:
        return [deep_copy(x) for x in v]
    return v


