"""What a mapping reads of its input, found once at compile time, for the fast paths.

Two analyses of the syntax tree, both conservative (anything they do not know about turns the
fast path off, never on):

- ``top_level_reads``: the top-level fields of the input document (``this``) a mapping can read.
  When it reads ``this`` only through such fields, the statements can run against a dict of just
  those fields (``engine._fast.jsonscan.Projector``), decoded straight from the payload bytes,
  instead of the whole document: every ``this.<field>...`` they evaluate gives the same value.

- ``flat_plan``: when a mapping is only ``root.<name> = <expr>`` statements (distinct names) whose
  expressions are literals, ``this.<field>`` and ``+ - * /``, the program ``jsonscan.FlatMap``
  runs on the payload bytes to produce the new document's bytes directly.

How ``this`` flows through the compiled closures (compiler.py): statements are called with the
top-level ``this`` (LAZY, or here the projected dict) and pass it down unchanged, except that
unnamed lambdas and query arguments, ``.(...)`` captures without a name, ``match`` cases and map
bodies get another value as ``this``, and ``.from()``/``.from_all()`` evaluate their target against
another message (with LAZY, so its whole document). Functions and methods only see values and the
context; those that read the message itself (``json()``, ``content()``) go through the context and
so always see the whole document.
"""

from __future__ import annotations

from typing import Any

from . import ast as A

MAX_KEYS = 64


class _Whole(Exception):
    """The mapping may use the input document as a whole."""


def top_level_reads(stmts: list[A.Node]) -> tuple[str, ...] | None:
    """The top-level input fields the statements can read, in order of first appearance; None when
    they may read the input document as a whole (a bare ``this`` where it is the input document,
    ``match`` without a subject, or a construct this analysis does not know)."""
    keys: dict[str, None] = {}
    try:
        for stmt in stmts:
            _statement(stmt, keys)
    except _Whole:
        return None
    if len(keys) > MAX_KEYS:
        return None
    return tuple(keys)


def _statement(node: A.Node, keys: dict[str, None]) -> None:
    t = type(node)
    if t is A.Assign:
        _expr(node.value, True, frozenset(), keys)  # type: ignore[attr-defined]
    elif t is A.IfStmt:
        for cond, body in node.branches:  # type: ignore[attr-defined]
            _expr(cond, True, frozenset(), keys)
            for s in body:
                _statement(s, keys)
        for s in node.otherwise or ():  # type: ignore[attr-defined]
            _statement(s, keys)
    elif t is A.MapDef:
        return  # a map's statements run with `this` = the value it is applied to
    else:
        raise _Whole


def _expr(node: A.Node | None, top: bool, scope: frozenset[str], keys: dict[str, None]) -> None:
    """Walk NODE; TOP says whether `this` there is the input document."""
    if node is None:
        return
    t = type(node)
    if t is A.Literal or t is A.Var or t is A.Meta or t is A.Root:
        return
    if t is A.This:
        if top:
            raise _Whole
        return
    if t is A.Name:
        if node.name not in scope and top:  # type: ignore[attr-defined]
            keys[node.name] = None  # type: ignore[attr-defined]
        return
    if t is A.Path:
        target, segments = node.target, list(node.segments)  # type: ignore[attr-defined]
        while type(target) is A.Path:
            segments = target.segments + segments  # type: ignore[attr-defined]
            target = target.target  # type: ignore[attr-defined]
        if type(target) is A.Name:
            if target.name not in scope and top:  # type: ignore[attr-defined]
                keys[target.name] = None  # type: ignore[attr-defined]
            return
        if type(target) is A.This:
            if top:
                if not segments:
                    raise _Whole
                keys[segments[0]] = None
            return
        _expr(target, top, scope, keys)
        return
    if t is A.ArrayLit:
        for item in node.items:  # type: ignore[attr-defined]
            _expr(item, top, scope, keys)
        return
    if t is A.ObjectLit:
        for k, v in node.pairs:  # type: ignore[attr-defined]
            _expr(k, top, scope, keys)
            _expr(v, top, scope, keys)
        return
    if t is A.Call:
        for arg in [*node.args, *node.kwargs.values()]:  # type: ignore[attr-defined]
            _argument(arg, top, scope, keys)
        return
    if t is A.MethodCall:
        if node.name in ("from", "from_all"):  # type: ignore[attr-defined]
            # The target is evaluated against another message, whose whole document it gets.
            _expr(node.target, False, scope, keys)  # type: ignore[attr-defined]
        else:
            _expr(node.target, top, scope, keys)  # type: ignore[attr-defined]
        for arg in [*node.args, *node.kwargs.values()]:  # type: ignore[attr-defined]
            _argument(arg, top, scope, keys)
        return
    if t is A.Capture:
        _expr(node.target, top, scope, keys)  # type: ignore[attr-defined]
        _argument(node.body, top, scope, keys)  # type: ignore[attr-defined]
        return
    if t is A.Index:
        _expr(node.target, top, scope, keys)  # type: ignore[attr-defined]
        _expr(node.index, top, scope, keys)  # type: ignore[attr-defined]
        return
    if t is A.Slice:
        for part in (node.target, node.start, node.stop, node.step):  # type: ignore[attr-defined]
            _expr(part, top, scope, keys)
        return
    if t is A.Unary:
        _expr(node.operand, top, scope, keys)  # type: ignore[attr-defined]
        return
    if t is A.Binary:
        _expr(node.left, top, scope, keys)  # type: ignore[attr-defined]
        _expr(node.right, top, scope, keys)  # type: ignore[attr-defined]
        return
    if t is A.IfExpr:
        for cond, body in node.branches:  # type: ignore[attr-defined]
            _expr(cond, top, scope, keys)
            _expr(body, top, scope, keys)
        _expr(node.otherwise, top, scope, keys)  # type: ignore[attr-defined]
        return
    if t is A.Match:
        if node.subject is None:  # type: ignore[attr-defined]
            if top:
                raise _Whole  # the cases see the input document itself
        else:
            _expr(node.subject, top, scope, keys)  # type: ignore[attr-defined]
        for case in node.cases:  # type: ignore[attr-defined]
            _expr(case.pattern, False, scope, keys)  # cases run with `this` = the subject
            _expr(case.body, False, scope, keys)
        return
    raise _Whole


def _argument(node: A.Node, top: bool, scope: frozenset[str], keys: dict[str, None]) -> None:
    if type(node) is A.Lambda:
        if node.param is None:  # type: ignore[attr-defined]
            _expr(node.body, False, scope, keys)  # type: ignore[attr-defined]  # `this` = the value
        else:
            _expr(node.body, top, scope | {node.param}, keys)  # type: ignore[attr-defined]
        return
    # A query argument given without a lambda runs with `this` = the value; treating it as an
    # ordinary argument only adds fields (or turns the fast path off).
    _expr(node, top, scope, keys)


# -- flat mappings -----------------------------------------------------------------------------
_OPS = frozenset("+-*/")
_LITERAL_TYPES = (type(None), bool, int, float, str)


def flat_plan(stmts: list[A.Node]) -> tuple[tuple[str, ...], list[tuple[str, list[tuple[str, Any]]]]] | None:
    """(keys, outputs) for ``jsonscan.FlatMap`` when every statement is ``root.<name> = <expr>``
    (distinct names) over literals, ``this.<field>`` and ``+ - * /``; None otherwise."""
    keys: dict[str, int] = {}
    outputs: list[tuple[str, list[tuple[str, Any]]]] = []
    names: set[str] = set()
    for stmt in stmts:
        if type(stmt) is A.MapDef:
            continue
        if type(stmt) is not A.Assign or stmt.kind != "root" or len(stmt.path) != 1:  # type: ignore[attr-defined]
            return None
        name = stmt.path[0]  # type: ignore[attr-defined]
        if name in names:
            return None
        names.add(name)
        program: list[tuple[str, Any]] = []
        if not _program(stmt.value, keys, program):  # type: ignore[attr-defined]
            return None
        outputs.append((name, program))
    if not outputs or len(keys) > MAX_KEYS or len(outputs) > MAX_KEYS:
        return None
    if sum(len(p) for _, p in outputs) > 256:
        return None
    return tuple(keys), outputs


def _program(node: A.Node, keys: dict[str, int], out: list[tuple[str, Any]]) -> bool:
    t = type(node)
    if t is A.Literal:
        if type(node.value) not in _LITERAL_TYPES:  # type: ignore[attr-defined]
            return False
        out.append(("const", node.value))  # type: ignore[attr-defined]
        return True
    field = None
    if t is A.Name:
        field = node.name  # type: ignore[attr-defined]
    elif t is A.Path and type(node.target) is A.This and len(node.segments) == 1:  # type: ignore[attr-defined]
        field = node.segments[0]  # type: ignore[attr-defined]
    elif t is A.Path and type(node.target) is A.Name and not node.segments:  # type: ignore[attr-defined]
        field = node.target.name  # type: ignore[attr-defined]
    if field is not None:
        out.append(("key", keys.setdefault(field, len(keys))))
        return True
    if t is A.Binary and node.op in _OPS:  # type: ignore[attr-defined]
        return (_program(node.left, keys, out) and _program(node.right, keys, out)  # type: ignore[attr-defined]
                and out.append(("op", node.op)) is None)  # type: ignore[attr-defined]
    return False
