"""Registries of Bloblang functions and methods, filled by ``functions`` and ``methods``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Any = REQUIRED
    query: bool = False  # passed as a callable evaluated per value (lambda or `this`-relative query)


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    params: tuple[Param, ...]
    impl: Callable[..., Any]
    wants_ctx: bool  # impl receives the execution context as its first argument
    variadic: bool  # extra positional arguments are passed through as more values


FUNCTIONS: dict[str, Spec] = {}
METHODS: dict[str, Spec] = {}


def _params(spec: tuple[str | Param, ...]) -> tuple[Param, ...]:
    return tuple(p if isinstance(p, Param) else Param(p) for p in spec)


def method(name: str, *params: str | Param, ctx: bool = False, variadic: bool = False,
           aliases: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a method: ``impl(value, *args)`` (``impl(ctx, value, *args)`` with ctx=True)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = Spec(name, _params(params), fn, ctx, variadic)
        for n in (name, *aliases):
            METHODS[n] = spec
        return fn

    return deco


def function(name: str, *params: str | Param, variadic: bool = False,
             aliases: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function: ``impl(ctx, *args)``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = Spec(name, _params(params), fn, True, variadic)
        for n in (name, *aliases):
            FUNCTIONS[n] = spec
        return fn

    return deco
