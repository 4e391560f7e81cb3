"""Bloblang functions: ``name(args)`` at the start of a query."""

from __future__ import annotations

import math
import os
import random
import secrets
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from .registry import Param, function
from .values import DELETED, QueryError, Timestamp, expected, format_rfc3339, is_number


def _msg(ctx: Any) -> Any:
    if ctx.msg is None:
        raise QueryError("no message to read from")
    return ctx.msg


@function("content")
def content(ctx: Any) -> bytes:
    return _msg(ctx).raw


@function("json", Param("path", ""))
def json_(ctx: Any, path: str) -> Any:
    try:
        v = _msg(ctx).structured
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    if path:
        from .compiler import _path_expr, walk

        v = walk(v, _path_expr(path.split(".")))
    return v


def _meta_string(v: Any) -> Any:
    from .values import to_string

    return None if v is None else to_string(v)


@function("meta", Param("key", ""))
def meta(ctx: Any, key: str) -> Any:
    """Input message metadata as strings (Bento's legacy ``meta``)."""
    m = _msg(ctx).meta
    if not key:
        return {k: _meta_string(v) for k, v in m.items()}
    return _meta_string(m.get(key))


@function("metadata", Param("key", ""))
def metadata(ctx: Any, key: str) -> Any:
    """Input message metadata with its values' own types; changes made by the mapping are not seen."""
    m = _msg(ctx).meta
    if not key:
        return dict(m)
    return m.get(key)


@function("root_meta", Param("key", ""))
def root_meta(ctx: Any, key: str) -> Any:
    if not key:
        return {k: _meta_string(v) for k, v in ctx.meta.items()}
    return _meta_string(ctx.meta.get(key))


@function("error")
def error(ctx: Any) -> Any:
    return _msg(ctx).error


@function("errored")
def errored(ctx: Any) -> bool:
    return _msg(ctx).error is not None


@function("batch_index")
def batch_index(ctx: Any) -> int:
    return ctx.index


@function("batch_size")
def batch_size(ctx: Any) -> int:
    return len(ctx.batch) if ctx.batch is not None else 1


_counters: dict[str, int] = {}
_counters_lock = threading.Lock()


@function("count", "name")
def count(ctx: Any, name: Any) -> int:
    if type(name) is not str:
        raise expected("string", name)
    with _counters_lock:
        n = _counters[name] = _counters.get(name, 0) + 1
    return n


@function("env", "name", Param("no_cache", False))
def env(ctx: Any, name: Any, no_cache: bool) -> Any:
    if type(name) is not str:
        raise expected("string", name)
    return os.environ.get(name)


@function("file", "path", Param("no_cache", False))
def file(ctx: Any, path: Any, no_cache: bool) -> bytes:
    if type(path) is not str:
        raise expected("string", path)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise QueryError(str(exc)) from None


@function("hostname")
def hostname(ctx: Any) -> str:
    return socket.gethostname()


@function("now")
def now(ctx: Any) -> str:
    return format_rfc3339(Timestamp(time.time_ns(), datetime.now(timezone.utc).astimezone().tzinfo))


@function("timestamp_unix")
def timestamp_unix(ctx: Any) -> int:
    return int(time.time())


@function("timestamp_unix_milli")
def timestamp_unix_milli(ctx: Any) -> int:
    return time.time_ns() // 1_000_000


@function("timestamp_unix_micro")
def timestamp_unix_micro(ctx: Any) -> int:
    return time.time_ns() // 1_000


@function("timestamp_unix_nano")
def timestamp_unix_nano(ctx: Any) -> int:
    return time.time_ns()


@function("uuid_v4")
def uuid_v4(ctx: Any) -> str:
    return str(uuid.uuid4())


_NANOID_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@function("nanoid", Param("length", 21), Param("alphabet", _NANOID_ALPHABET))
def nanoid(ctx: Any, length: Any, alphabet: Any) -> str:
    if type(length) is not int or length <= 0:
        raise expected("positive integer", length)
    if type(alphabet) is not str or not alphabet:
        raise expected("non-empty string", alphabet)
    return "".join(secrets.choice(alphabet) for _ in range(length))


@function("random_int", Param("seed", None), Param("min", 0), Param("max", 2**63 - 1))
def random_int(ctx: Any, seed: Any, lo: Any, hi: Any) -> int:
    if type(lo) is not int or type(hi) is not int or lo > hi:
        raise QueryError("min and max must be integers with min <= max")
    if seed is None:
        return random.randint(lo, hi)
    return random.Random(seed).randint(lo, hi)


@function("range", "start", "stop", Param("step", None))
def range_(ctx: Any, start: Any, stop: Any, step: Any) -> list[int]:
    for name, v in (("start", start), ("stop", stop)):
        if type(v) is not int and not (type(v) is float and v.is_integer()):
            raise QueryError(f"{name}: {expected('integer', v)}")
    start, stop = int(start), int(stop)
    if step is None:
        step = 1 if stop >= start else -1
    if type(step) is not int or step == 0:
        raise QueryError("step must be a non-zero integer")
    if (step > 0 and stop < start) or (step < 0 and stop > start):
        raise QueryError(f"with step {step} start ({start}) must be {'<' if step > 0 else '>'} stop ({stop})")
    return list(range(start, stop, step))


@function("throw", "why")
def throw(ctx: Any, why: Any) -> Any:
    if type(why) is not str:
        raise expected("string", why)
    raise QueryError(why)


@function("pi")
def pi(ctx: Any) -> float:
    return math.pi


@function("cosine_similarity", "a", "b")
def cosine_similarity(ctx: Any, a: Any, b: Any) -> Any:
    from .values import norm_float

    if type(a) is not list or type(b) is not list or len(a) != len(b) or not a:
        raise QueryError("expected two non-empty arrays of equal length")
    if not all(is_number(x) for x in a + b):
        raise QueryError("expected arrays of numbers")
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        raise QueryError("cosine similarity is undefined for a zero vector")
    return norm_float(round(dot / (na * nb), 15))


@function("deleted")
def deleted(ctx: Any) -> Any:
    return DELETED


@function("ksuid")
def ksuid(ctx: Any) -> str:
    # A KSUID is 4 bytes of seconds since 2014-05-13 plus 16 random bytes, base62 encoded.
    raw = (int(time.time()) - 1400000000).to_bytes(4, "big") + secrets.token_bytes(16)
    n = int.from_bytes(raw, "big")
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(chars[r])
    return "".join(reversed(out)).rjust(27, "0")


