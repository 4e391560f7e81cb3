"""Pure-Python twin of _jsonscan.pyx, same interface and results (see protocols.py).

The whole document is decoded by msgspec (in C) and the fields asked for are picked out; a flat
mapping is evaluated on them and encoded by orjson, as the general path would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import orjson

_decode = msgspec.json.decode
_dumps = orjson.dumps
_SORT = orjson.OPT_SORT_KEYS
_EXACT = 9007199254740992  # 2**53
_FAIL: Any = object()


class Projector:
    __slots__ = ("keys",)

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)
        if len(self.keys) > 64:
            raise ValueError("at most 64 keys")

    def project(self, data: Any) -> dict[str, Any] | None:
        if type(data) is not bytes:
            return None
        try:
            doc = _decode(data)
        except (ValueError, msgspec.DecodeError, RecursionError):
            return None
        if type(doc) is not dict:
            return None
        return {k: doc[k] for k in self.keys if k in doc}


def _norm(f: float) -> Any:
    if f.is_integer() and -_EXACT <= f <= _EXACT:
        return int(f)
    return f


def _arith(op: str, a: Any, b: Any) -> Any:
    """Bloblang's op_add/op_sub/op_mul/op_div on numbers; _FAIL for anything else (errors included)."""
    ta, tb = type(a), type(b)
    if not (ta is int or ta is float) or not (tb is int or tb is float):
        return _FAIL
    try:
        if op == "+":
            return a + b if ta is int and tb is int else _norm(a + b)
        if op == "-":
            return a - b if ta is int and tb is int else _norm(float(a - b))
        if op == "*":
            return a * b if ta is int and tb is int else _norm(float(a * b))
        if b == 0:
            return _FAIL
        return _norm(a / b)
    except (OverflowError, ValueError):
        return _FAIL


class _Fail(Exception):
    pass


def _arith_or_raise(op: str) -> Any:
    def apply(a: Any, b: Any) -> Any:
        r = _arith(op, a, b)
        if r is _FAIL:
            raise _Fail
        return r

    return apply


def _field(key: str) -> Any:
    return lambda doc: doc.get(key)


def _constant(value: Any) -> Any:
    return lambda doc: value


def _apply(fn: Any, left: tuple[str, Any], right: tuple[str, Any]) -> Any:
    (lk, lv), (rk, rv) = left, right
    if lk == "fn" and rk == "const":
        return lambda doc: fn(lv(doc), rv)
    if lk == "const" and rk == "fn":
        return lambda doc: fn(lv, rv(doc))
    if lk == "fn":
        return lambda doc: fn(lv(doc), rv(doc))
    return lambda doc: fn(lv, rv)


def _compile(program: list[tuple[str, Any]], keys: tuple[str, ...]) -> Any:
    """The postfix PROGRAM as a function of the decoded document (a tree of closures)."""
    stack: list[tuple[str, Any]] = []  # ("const", value) or ("fn", function)
    for kind, arg in program:
        if kind == "key":
            stack.append(("fn", _field(keys[arg])))
        elif kind == "const":
            stack.append(("const", arg))
        else:
            right = stack.pop()
            stack.append(("fn", _apply(_arith_or_raise(arg), stack.pop(), right)))
    kind, value = stack[0]
    return value if kind == "fn" else _constant(value)


class FlatMap(Projector):
    __slots__ = ("_outputs",)

    def __init__(self, keys: Iterable[str], outputs: Iterable[tuple[str, list[tuple[str, Any]]]]) -> None:
        super().__init__(keys)
        outs = [(str(name), list(program)) for name, program in outputs]
        if not outs or len(outs) > 64:
            raise ValueError("between 1 and 64 outputs")
        if len({name for name, _ in outs}) != len(outs):
            raise ValueError("output names must be distinct")
        if sum(len(p) for _, p in outs) > 256:
            raise ValueError("program too long")
        for _, program in outs:
            depth = 0
            for kind, arg in program:
                if kind == "key":
                    if not 0 <= arg < len(self.keys):
                        raise ValueError(f"no key {arg}")
                    depth += 1
                elif kind == "const":
                    if arg is not None and type(arg) not in (bool, int, float, str):
                        raise ValueError(f"unsupported literal {arg!r}")
                    _dumps(arg)
                    depth += 1
                elif kind == "op":
                    if arg not in ("+", "-", "*", "/"):
                        raise KeyError(arg)
                    depth -= 1
                    if depth < 1:
                        raise ValueError("stack underflow")
                else:
                    raise ValueError(f"unknown instruction {kind!r}")
                if depth > 64:
                    raise ValueError("program too deep")
            if depth != 1:
                raise ValueError("a program must leave one value")
        self._outputs = [(name, _compile(program, self.keys)) for name, program in outs]

    def run(self, data: Any) -> bytes | None:
        if type(data) is not bytes:
            return None
        try:
            doc = _decode(data)
        except (ValueError, msgspec.DecodeError, RecursionError):
            return None
        if type(doc) is not dict:
            return None
        try:
            out = {name: fn(doc) for name, fn in self._outputs}
            return _dumps(out, option=_SORT)
        except (_Fail, TypeError, ValueError):
            return None

    def run_many(self, payloads: list[Any]) -> list[bytes | None]:
        run = self.run
        return [None if p is None else run(p) for p in payloads]

    def run_lines(self, data: Any) -> bytes | None:
        if type(data) is not bytes:
            return None
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        run = self.run
        out = []
        for line in lines:
            doc = run(line)
            if doc is None:
                return None
            out.append(doc)
        return b"".join(d + b"\n" for d in out)
