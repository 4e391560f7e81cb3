"""Syntax tree produced by the parser and consumed by the compiler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Node:
    pos: int


# -- expressions -------------------------------------------------------------
@dataclass(slots=True)
class Literal(Node):
    value: Any


@dataclass(slots=True)
class ArrayLit(Node):
    items: list[Node]


@dataclass(slots=True)
class ObjectLit(Node):
    pairs: list[tuple[Node, Node]]


@dataclass(slots=True)
class This(Node):
    pass


@dataclass(slots=True)
class Root(Node):
    pass


@dataclass(slots=True)
class Name(Node):
    """A bare identifier: a lambda parameter when one is in scope, else ``this.<name>``."""

    name: str


@dataclass(slots=True)
class Path(Node):
    """Field access ``target.a.b``; segments are strings (digits index arrays)."""

    target: Node
    segments: list[str]


@dataclass(slots=True)
class Var(Node):
    name: str


@dataclass(slots=True)
class Meta(Node):
    """``@key`` (or ``@`` for the whole object when key is None): new message metadata."""

    key: str | None


@dataclass(slots=True)
class Call(Node):
    name: str
    args: list[Node]
    kwargs: dict[str, Node]


@dataclass(slots=True)
class MethodCall(Node):
    target: Node
    name: str
    args: list[Node]
    kwargs: dict[str, Node]


@dataclass(slots=True)
class Lambda(Node):
    param: str | None
    body: Node


@dataclass(slots=True)
class Capture(Node):
    """``target.(expr)`` / ``target.(name -> expr)``: evaluate with target as context."""

    target: Node
    body: Lambda


@dataclass(slots=True)
class Index(Node):
    target: Node
    index: Node


@dataclass(slots=True)
class Slice(Node):
    target: Node
    start: Node | None
    stop: Node | None
    step: Node | None


@dataclass(slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class IfExpr(Node):
    branches: list[tuple[Node, Node]]
    otherwise: Node | None


@dataclass(slots=True)
class MatchCase:
    pattern: Node | None  # None is the `_` catch-all
    body: Node


@dataclass(slots=True)
class Match(Node):
    subject: Node | None
    cases: list[MatchCase]


# -- statements --------------------------------------------------------------
@dataclass(slots=True)
class Assign(Node):
    kind: str  # "root", "meta" or "let"
    path: list[str]  # root path segments; [key] for meta/let; [] for whole root/meta
    value: Node
    line: int = 0


@dataclass(slots=True)
class IfStmt(Node):
    branches: list[tuple[Node, list[Node]]]
    otherwise: list[Node] | None
    line: int = 0


@dataclass(slots=True)
class MapDef(Node):
    name: str
    body: list[Node] = field(default_factory=list)
