"""Compile the syntax tree into Python closures.

Every expression becomes ``fn(ctx, this) -> value`` and every statement
``fn(ctx, this) -> None``; all dispatch on node types happens once, here.
"""

from __future__ import annotations

from typing import Any, Callable

from . import ast as A
from .errors import MappingError, ParseError
from .registry import FUNCTIONS, METHODS, REQUIRED, Spec
from .values import (
    DELETED,
    NOTHING,
    QueryError,
    Timestamp,
    describe,
    expected,
    norm_float,
    values_equal,
)

Expr = Callable[["Context", Any], Any]
Stmt = Callable[["Context", Any], None]

# Top-level `this` is decoded from the message only when something reads it.
LAZY: Any = type("_Lazy", (), {"__repr__": lambda self: "LAZY"})()
_MISSING: Any = object()


class Context:
    """State of one execution of a mapping or query against one message."""

    __slots__ = ("msg", "batch", "index", "vars", "root", "meta", "params", "maps",
                 "owned", "mutating")

    def __init__(self, msg: Any, batch: Any, index: int, maps: dict[str, list[Stmt]],
                 meta: dict[str, Any], mutating: bool = False) -> None:
        self.msg = msg
        self.batch = batch
        self.index = index
        self.vars: dict[str, Any] = {}
        self.root: Any = NOTHING
        self.meta = meta
        self.params: dict[str, Any] = {}
        self.maps = maps
        # Containers of the new document created by this execution; anything else may
        # belong to the input and is copied before it is changed.
        self.owned: dict[int, Any] = {}
        self.mutating = mutating

    def input_value(self) -> Any:
        msg = self.msg
        if msg is None:
            return None
        try:
            return msg.structured
        except ValueError as exc:
            raise QueryError(f"unable to reference message as structured (with 'this'): {exc}") from None

    def top_this(self) -> Any:
        if self.mutating:
            root = self.root
            if root is NOTHING or root is DELETED:
                return self.input_value()
            return root
        return self.input_value()

    def sub(self) -> "Context":
        c = Context(self.msg, self.batch, self.index, self.maps, self.meta)
        c.params = self.params
        return c

    def message_at(self, index: int) -> Any:
        batch = self.batch
        if batch is None:
            if index == self.index or index == 0:
                return self.msg
            raise QueryError(f"message index {index} out of bounds (batch size 1)")
        if not -len(batch) <= index < len(batch):
            raise QueryError(f"message index {index} out of bounds (batch size {len(batch)})")
        return batch[index]


def _this_expr(ctx: Context, this: Any) -> Any:
    return ctx.top_this() if this is LAZY else this


def walk(v: Any, segs: tuple[Any, ...]) -> Any:
    for seg, idx in segs:
        t = type(v)
        if t is dict:
            v = v.get(seg)
        elif t is list and idx is not None:
            v = v[idx] if -len(v) <= idx < len(v) else None
        else:
            return None
    return v


def _path_expr(segments: list[str]) -> tuple[tuple[str, int | None], ...]:
    out = []
    for s in segments:
        idx = int(s) if s.isdigit() or (s.startswith("-") and s[1:].isdigit()) else None
        out.append((s, idx))
    return tuple(out)


def path_text(node: A.Node) -> str | None:
    """``this.a.b``-style text for error messages, when the node is a plain path."""
    if isinstance(node, A.Path):
        base = path_text(node.target)
        return None if base is None else ".".join([base, *node.segments])
    if isinstance(node, A.This):
        return "this"
    if isinstance(node, A.Root):
        return "root"
    if isinstance(node, A.Name):
        return f"this.{node.name}"
    if isinstance(node, A.Var):
        return f"${node.name}"
    if isinstance(node, A.Meta):
        return f"@{node.key or ''}"
    return None


# -- operators ----------------------------------------------------------------
def _num_pair(op: str, a: Any, b: Any) -> None:
    ta, tb = type(a), type(b)
    if not (ta is int or ta is float) or not (tb is int or tb is float):
        raise QueryError(f"cannot {op} types {describe(a)} and {describe(b)}")


# The numeric paths inline values.norm_float (a whole float within 2**53 becomes an int): these
# run once per operator per message.
_EXACT = 9007199254740992.0


def op_add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return a + b
    if (ta is float or ta is int) and (tb is float or tb is int):  # a float is involved
        f = a + b
        return int(f) if f.is_integer() and -_EXACT <= f <= _EXACT else f
    if ta is str and tb is str:
        return a + b
    if ta is bytes and tb is bytes:
        return a + b
    _num_pair("add", a, b)
    return norm_float(a + b) if ta is float or tb is float else a + b


def op_sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return a - b
    if (ta is float or ta is int) and (tb is float or tb is int):
        f = float(a - b)
        return int(f) if f.is_integer() and -_EXACT <= f <= _EXACT else f
    _num_pair("subtract", a, b)
    return norm_float(float(a - b))


def op_mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return a * b
    if (ta is float or ta is int) and (tb is float or tb is int):
        f = float(a * b)
        return int(f) if f.is_integer() and -_EXACT <= f <= _EXACT else f
    _num_pair("multiply", a, b)
    return norm_float(float(a * b))


def op_div(a: Any, b: Any) -> Any:
    _num_pair("divide", a, b)
    if b == 0:
        raise QueryError("attempted to divide by zero")
    f = a / b
    return int(f) if f.is_integer() and -_EXACT <= f <= _EXACT else f


def op_mod(a: Any, b: Any) -> Any:
    _num_pair("modulo", a, b)
    a, b = int(a), int(b)
    if b == 0:
        raise QueryError("attempted to divide by zero")
    r = abs(a) % abs(b)  # Go's % truncates toward zero: the sign follows the dividend
    return -r if a < 0 else r


def _comparable(op: str, a: Any, b: Any) -> None:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return
    if ta is tb and ta in (str, bytes, Timestamp):
        return
    raise QueryError(f"cannot compare types {describe(a)} and {describe(b)} with {op}")


def op_lt(a: Any, b: Any) -> bool:
    _comparable("<", a, b)
    return a < b


def op_le(a: Any, b: Any) -> bool:
    _comparable("<=", a, b)
    return a <= b


def op_gt(a: Any, b: Any) -> bool:
    _comparable(">", a, b)
    return a > b


def op_ge(a: Any, b: Any) -> bool:
    _comparable(">=", a, b)
    return a >= b


_BINARY_FNS: dict[str, Callable[[Any, Any], Any]] = {
    "+": op_add, "-": op_sub, "*": op_mul, "/": op_div, "%": op_mod,
    "<": op_lt, "<=": op_le, ">": op_gt, ">=": op_ge,
    "==": values_equal, "!=": lambda a, b: not values_equal(a, b),
}


def want_bool(v: Any, what: str = "") -> bool:
    if type(v) is not bool:
        raise expected("bool", v) if not what else QueryError(f"{what}: {expected('bool', v)}")
    return v


# -- root assignment ----------------------------------------------------------
def _own(ctx: Context, v: Any) -> Any:
    owned = ctx.owned
    if id(v) in owned:
        return v
    v = dict(v) if type(v) is dict else list(v)
    owned[id(v)] = v
    return v


def set_root_path(ctx: Context, segs: tuple[tuple[str, int | None], ...], value: Any) -> None:
    if not segs:
        ctx.root = value
        return
    root = ctx.root
    if ctx.mutating and root is NOTHING:
        try:
            root = ctx.input_value()
        except QueryError:  # as Bento's MapOnto: a payload that is not JSON starts from nothing
            pass
    if type(root) is dict or type(root) is list:
        root = _own(ctx, root)
    else:
        if value is DELETED:
            return
        root = {}
        ctx.owned[id(root)] = root
    ctx.root = root
    cur = root
    last = len(segs) - 1
    for i, (seg, idx) in enumerate(segs):
        t = type(cur)
        if i == last:
            if t is dict:
                if value is DELETED:
                    cur.pop(seg, None)
                else:
                    cur[seg] = value
            elif idx is not None and -len(cur) <= idx < len(cur):
                if value is DELETED:
                    del cur[idx]
                else:
                    cur[idx] = value
            elif value is not DELETED:
                raise QueryError(f"unable to set path segment {seg!r} of an array")
            return
        if t is dict:
            nxt = cur.get(seg)
            if type(nxt) is dict or type(nxt) is list:
                nxt = _own(ctx, nxt)
            else:
                if value is DELETED:
                    return
                nxt = {}
                ctx.owned[id(nxt)] = nxt
            cur[seg] = nxt
        else:  # list
            if idx is None or not -len(cur) <= idx < len(cur):
                if value is DELETED:
                    return
                raise QueryError(f"unable to set path segment {seg!r} of an array")
            nxt = cur[idx]
            if type(nxt) is dict or type(nxt) is list:
                nxt = _own(ctx, nxt)
            else:
                if value is DELETED:
                    return
                nxt = {}
                ctx.owned[id(nxt)] = nxt
            cur[idx] = nxt
        cur = nxt


def run_map(ctx: Context, name: str, value: Any) -> Any:
    stmts = ctx.maps.get(name)
    if stmts is None:
        raise QueryError(f"map {name} was not found")
    sub = ctx.sub()
    for stmt in stmts:
        stmt(sub, value)
    root = sub.root
    return None if root is NOTHING else root


# -- the compiler -------------------------------------------------------------
class Compiler:
    def __init__(self, src: str) -> None:
        self.src = src
        self.map_names: set[str] = set()

    def error(self, explanation: str, node: A.Node) -> ParseError:
        return ParseError(explanation, self.src, node.pos)

    def line(self, node: A.Node) -> int:
        return self.src.count("\n", 0, node.pos) + 1

    # -- statements --------------------------------------------------------
    def compile_mapping(self, stmts: list[A.Node]) -> tuple[list[Stmt], dict[str, list[Stmt]]]:
        maps: dict[str, list[Stmt]] = {}
        self.map_names = {s.name for s in stmts if isinstance(s, A.MapDef)}
        for s in stmts:
            if isinstance(s, A.MapDef):
                if s.name in maps:
                    raise self.error(f"map {s.name} was defined more than once", s)
                maps[s.name] = [self.statement(b) for b in s.body]
        body = [self.statement(s) for s in stmts if not isinstance(s, A.MapDef)]
        return body, maps

    def statement(self, node: A.Node) -> Stmt:
        if isinstance(node, A.Assign):
            return self.assignment(node)
        if isinstance(node, A.IfStmt):
            return self.if_statement(node)
        raise self.error("map definitions are only allowed at the top level", node)

    def assignment(self, node: A.Assign) -> Stmt:
        value = self.expr(node.value, frozenset())
        where = f"failed assignment (line {node.line})"
        kind = node.kind
        if kind == "root":
            segs = _path_expr(node.path)
            if len(segs) == 1:
                key = segs[0][0]

                def assign_root_key(ctx: Context, this: Any) -> None:
                    # `root.<key> = ...` onto a document this execution made: set_root_path's
                    # own result, without its walk; anything else goes through it.
                    try:
                        v = value(ctx, this)
                        if v is NOTHING:
                            return
                        root = ctx.root
                        if v is DELETED:
                            set_root_path(ctx, segs, v)
                        elif type(root) is dict and id(root) in ctx.owned:
                            root[key] = v
                        elif root is NOTHING and not ctx.mutating:  # the first assignment
                            root = ctx.root = {key: v}
                            ctx.owned[id(root)] = root
                        else:
                            set_root_path(ctx, segs, v)
                    except QueryError as exc:
                        raise MappingError(f"{where}: {exc}") from None

                return assign_root_key

            def assign_root(ctx: Context, this: Any) -> None:
                try:
                    v = value(ctx, this)
                    if v is not NOTHING:
                        set_root_path(ctx, segs, v)
                except QueryError as exc:
                    raise MappingError(f"{where}: {exc}") from None

            return assign_root
        if kind == "let":
            name = node.path[0]

            def assign_var(ctx: Context, this: Any) -> None:
                try:
                    v = value(ctx, this)
                except QueryError as exc:
                    raise MappingError(f"{where}: {exc}") from None
                if v is DELETED:
                    ctx.vars.pop(name, None)
                elif v is not NOTHING:
                    ctx.vars[name] = v

            return assign_var
        if node.path:
            key = node.path[0]

            def assign_meta_key(ctx: Context, this: Any) -> None:
                try:
                    v = value(ctx, this)
                except QueryError as exc:
                    raise MappingError(f"{where}: {exc}") from None
                if v is DELETED:
                    ctx.meta.pop(key, None)
                elif v is not NOTHING:
                    ctx.meta[key] = v

            return assign_meta_key

        def assign_meta(ctx: Context, this: Any) -> None:
            try:
                v = value(ctx, this)
                if v is NOTHING:
                    return
                if v is DELETED:
                    ctx.meta.clear()
                elif type(v) is dict:
                    ctx.meta.clear()
                    ctx.meta.update(v)
                else:
                    raise QueryError(f"setting root meta object requires object value, got {describe(v)}")
            except QueryError as exc:
                raise MappingError(f"{where}: {exc}") from None

        return assign_meta

    def if_statement(self, node: A.IfStmt) -> Stmt:
        branches = [(self.expr(c, frozenset()), [self.statement(s) for s in body])
                    for c, body in node.branches]
        otherwise = [self.statement(s) for s in node.otherwise] if node.otherwise is not None else None
        where = f"failed if statement (line {node.line})"

        def run_if(ctx: Context, this: Any) -> None:
            for cond, body in branches:
                try:
                    c = cond(ctx, this)
                    if type(c) is not bool:
                        raise expected("bool", c)
                except QueryError as exc:
                    raise MappingError(f"{where}: {exc}") from None
                if c:
                    for s in body:
                        s(ctx, this)
                    return
            if otherwise is not None:
                for s in otherwise:
                    s(ctx, this)

        return run_if

    # -- expressions -------------------------------------------------------
    def expr(self, node: A.Node, scope: frozenset[str]) -> Expr:
        method = getattr(self, "x_" + type(node).__name__, None)
        if method is None:
            raise self.error(f"unexpected {type(node).__name__.lower()} here", node)
        return method(node, scope)

    def x_Literal(self, node: A.Literal, scope: frozenset[str]) -> Expr:
        value = node.value
        return lambda ctx, this: value

    def x_ArrayLit(self, node: A.ArrayLit, scope: frozenset[str]) -> Expr:
        items = [self.expr(i, scope) for i in node.items]
        if all(isinstance(i, A.Literal) for i in node.items):
            const = [i.value for i in node.items]  # type: ignore[attr-defined]
            return lambda ctx, this: list(const)

        def array(ctx: Context, this: Any) -> list[Any]:
            out = []
            for item in items:
                v = item(ctx, this)
                if v is not DELETED and v is not NOTHING:
                    out.append(v)
            return out

        return array

    def x_ObjectLit(self, node: A.ObjectLit, scope: frozenset[str]) -> Expr:
        pairs = []
        for k, v in node.pairs:
            if isinstance(k, A.Literal) and not isinstance(k.value, str):
                raise self.error("object keys must be strings", k)
            static_key = k.value if isinstance(k, A.Literal) else None
            pairs.append((static_key, self.expr(k, scope), self.expr(v, scope)))

        def obj(ctx: Context, this: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for static_key, kfn, vfn in pairs:
                key = static_key
                if key is None:
                    key = kfn(ctx, this)
                    if type(key) is not str:
                        raise QueryError(f"object keys must be strings, got {describe(key)}")
                v = vfn(ctx, this)
                if v is not DELETED and v is not NOTHING:
                    out[key] = v
            ctx.owned[id(out)] = out
            return out

        return obj

    def x_This(self, node: A.This, scope: frozenset[str]) -> Expr:
        return _this_expr

    def x_Root(self, node: A.Root, scope: frozenset[str]) -> Expr:
        def root(ctx: Context, this: Any) -> Any:
            r = ctx.root
            if r is NOTHING or r is DELETED:
                return ctx.input_value() if ctx.mutating and r is NOTHING else None
            return r

        return root

    def x_Name(self, node: A.Name, scope: frozenset[str]) -> Expr:
        return self.x_Path(A.Path(node.pos, node, []), scope)

    def x_Path(self, node: A.Path, scope: frozenset[str]) -> Expr:
        target = node.target
        segments = list(node.segments)
        # Flatten nested paths and resolve bare names into a base plus segments.
        while isinstance(target, A.Path):
            segments = target.segments + segments
            target = target.target
        if isinstance(target, A.Name):
            if target.name in scope:
                name = target.name
                segs = _path_expr(segments)

                def param_path(ctx: Context, this: Any) -> Any:
                    return walk(ctx.params[name], segs)

                return param_path
            segments = [target.name, *segments]
            target = A.This(target.pos)
        segs = _path_expr(segments)
        if isinstance(target, A.This):
            if len(segs) == 1:
                key, idx = segs[0]

                def this_field(ctx: Context, this: Any) -> Any:
                    if this is LAZY:
                        this = ctx.top_this()
                    if type(this) is dict:
                        return this.get(key)
                    return walk(this, segs)

                return this_field

            def this_path(ctx: Context, this: Any) -> Any:
                if this is LAZY:
                    this = ctx.top_this()
                return walk(this, segs)

            return this_path
        base = self.expr(target, scope)
        return lambda ctx, this: walk(base(ctx, this), segs)

    def x_Var(self, node: A.Var, scope: frozenset[str]) -> Expr:
        name = node.name

        def var(ctx: Context, this: Any) -> Any:
            try:
                return ctx.vars[name]
            except KeyError:
                raise QueryError(f"variable {name} undefined") from None

        return var

    def x_Meta(self, node: A.Meta, scope: frozenset[str]) -> Expr:
        key = node.key
        if key is None:
            return lambda ctx, this: dict(ctx.meta)
        return lambda ctx, this: ctx.meta.get(key)

    def x_Lambda(self, node: A.Lambda, scope: frozenset[str]) -> Expr:
        raise self.error("a lambda is only allowed as a method or function argument", node)

    def x_Capture(self, node: A.Capture, scope: frozenset[str]) -> Expr:
        target = self.expr(node.target, scope)
        maker = self.query_arg(node.body, scope)
        return lambda ctx, this: maker(ctx, this)(target(ctx, this))

    def query_arg(self, node: A.Node, scope: frozenset[str]) -> Callable[[Context, Any], Callable[[Any], Any]]:
        """Compile an argument that is evaluated against other values (lambdas and queries)."""
        if isinstance(node, A.Lambda) and node.param is not None:
            name = node.param
            if name in ("this", "root"):
                raise self.error(f"{name} cannot be used as a context name", node)
            body = self.expr(node.body, scope | {name})

            def named(ctx: Context, this: Any) -> Callable[[Any], Any]:
                def fn(value: Any) -> Any:
                    params = ctx.params
                    old = params.get(name, _MISSING)
                    params[name] = value
                    try:
                        return body(ctx, this)
                    finally:
                        if old is _MISSING:
                            del params[name]
                        else:
                            params[name] = old

                return fn

            return named
        body = self.expr(node.body if isinstance(node, A.Lambda) else node, scope)
        return lambda ctx, this: (lambda value: body(ctx, value))

    def x_Index(self, node: A.Index, scope: frozenset[str]) -> Expr:
        target = self.expr(node.target, scope)
        index = self.expr(node.index, scope)

        def get_index(ctx: Context, this: Any) -> Any:
            v = target(ctx, this)
            i = index(ctx, this)
            t = type(v)
            if t is dict:
                if type(i) is not str:
                    raise QueryError(f"expected string index for object, got {describe(i)}")
                return v.get(i)
            if t in (list, str, bytes):
                if type(i) is float and i.is_integer():
                    i = int(i)
                if type(i) is not int:
                    raise QueryError(f"expected integer index, got {describe(i)}")
                if not -len(v) <= i < len(v):
                    raise QueryError(f"index {i} out of bounds for {t is list and 'array' or 'string'} of length {len(v)}")
                return v[i]
            raise QueryError(f"expected array, string or object value to index, got {describe(v)}")

        return get_index

    def x_Slice(self, node: A.Slice, scope: frozenset[str]) -> Expr:
        target = self.expr(node.target, scope)
        parts = [None if p is None else self.expr(p, scope) for p in (node.start, node.stop, node.step)]

        def get_slice(ctx: Context, this: Any) -> Any:
            v = target(ctx, this)
            if type(v) not in (list, str, bytes):
                raise QueryError(f"expected array or string value to slice, got {describe(v)}")
            bounds = []
            for p in parts:
                if p is None:
                    bounds.append(None)
                    continue
                b = p(ctx, this)
                if type(b) is float and b.is_integer():
                    b = int(b)
                if type(b) is not int:
                    raise QueryError(f"expected integer slice bound, got {describe(b)}")
                bounds.append(b)
            if bounds[2] == 0:
                raise QueryError("slice step cannot be zero")
            return v[bounds[0]:bounds[1]:bounds[2]]

        return get_slice

    def x_Unary(self, node: A.Unary, scope: frozenset[str]) -> Expr:
        operand = self.expr(node.operand, scope)
        if node.op == "!":
            def not_(ctx: Context, this: Any) -> bool:
                v = operand(ctx, this)
                if type(v) is not bool:
                    raise expected("bool", v)
                return not v

            return not_

        def neg(ctx: Context, this: Any) -> Any:
            v = operand(ctx, this)
            if type(v) is not int and type(v) is not float:
                raise expected("number", v)
            return -v

        return neg

    def x_Binary(self, node: A.Binary, scope: frozenset[str]) -> Expr:
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope)
        op = node.op
        if op == "|":
            def coalesce(ctx: Context, this: Any) -> Any:
                try:
                    v = left(ctx, this)
                except MappingError:
                    return right(ctx, this)
                if v is None or v is NOTHING:
                    return right(ctx, this)
                return v

            return coalesce
        if op == "&&":
            def and_(ctx: Context, this: Any) -> bool:
                a = left(ctx, this)
                if type(a) is not bool:
                    raise QueryError(f"cannot use && on {describe(a)}: expected bool value")
                if not a:
                    return False
                b = right(ctx, this)
                if type(b) is not bool:
                    raise QueryError(f"cannot use && on {describe(b)}: expected bool value")
                return b

            return and_
        if op == "||":
            def or_(ctx: Context, this: Any) -> bool:
                a = left(ctx, this)
                if type(a) is not bool:
                    raise QueryError(f"cannot use || on {describe(a)}: expected bool value")
                if a:
                    return True
                b = right(ctx, this)
                if type(b) is not bool:
                    raise QueryError(f"cannot use || on {describe(b)}: expected bool value")
                return b

            return or_
        fn = _BINARY_FNS[op]
        if isinstance(node.left, A.Literal) and isinstance(node.right, A.Literal):
            try:
                const = fn(node.left.value, node.right.value)
            except QueryError:
                pass  # fail at run time instead, where `.catch()` can still recover
            else:
                return lambda ctx, this: const
        if isinstance(node.right, A.Literal):  # `this.x * 2`: one call fewer per evaluation
            rvalue = node.right.value
            return lambda ctx, this: fn(left(ctx, this), rvalue)
        if isinstance(node.left, A.Literal):
            lvalue = node.left.value
            return lambda ctx, this: fn(lvalue, right(ctx, this))
        return lambda ctx, this: fn(left(ctx, this), right(ctx, this))

    def x_IfExpr(self, node: A.IfExpr, scope: frozenset[str]) -> Expr:
        branches = [(self.expr(c, scope), self.expr(b, scope)) for c, b in node.branches]
        otherwise = self.expr(node.otherwise, scope) if node.otherwise is not None else None

        def if_expr(ctx: Context, this: Any) -> Any:
            for cond, body in branches:
                c = cond(ctx, this)
                if type(c) is not bool:
                    raise expected("bool", c)
                if c:
                    return body(ctx, this)
            if otherwise is not None:
                return otherwise(ctx, this)
            return NOTHING

        return if_expr

    def x_Match(self, node: A.Match, scope: frozenset[str]) -> Expr:
        subject = self.expr(node.subject, scope) if node.subject is not None else _this_expr
        cases: list[tuple[int, Any, Expr]] = []
        for case in node.cases:
            body = self.expr(case.body, scope)
            p = case.pattern
            if p is None:
                cases.append((0, None, body))
            elif isinstance(p, A.Literal):
                cases.append((1, p.value, body))
            else:
                cases.append((2, self.expr(p, scope), body))

        def match(ctx: Context, this: Any) -> Any:
            s = subject(ctx, this)
            for kind, pattern, body in cases:
                if kind == 0:
                    return body(ctx, s)
                if kind == 1:
                    if values_equal(pattern, s):
                        return body(ctx, s)
                    continue
                r = pattern(ctx, s)
                if r is True or (type(r) is not bool and values_equal(r, s)):
                    return body(ctx, s)
            return NOTHING

        return match

    def bind_args(self, spec: Spec, node: A.Call | A.MethodCall, scope: frozenset[str],
                  what: str) -> list[Callable[[Context, Any], Any]]:
        params = spec.params
        if len(node.args) > len(params) and not spec.variadic:
            raise self.error(f"{what} {spec.name}: expected at most {len(params)} arguments, "
                             f"received {len(node.args)}", node)
        if node.kwargs and spec.variadic:
            raise self.error(f"{what} {spec.name} does not accept named arguments", node)
        nodes: list[A.Node | None] = list(node.args[: len(params)])
        nodes += [None] * (len(params) - len(nodes))
        names = [p.name for p in params]
        for k, v in node.kwargs.items():
            if k not in names:
                raise self.error(f"{what} {spec.name}: unknown parameter {k}", node)
            nodes[names.index(k)] = v
        out: list[Callable[[Context, Any], Any]] = []
        for p, n in zip(params, nodes):
            if n is None:
                if p.default is REQUIRED:
                    raise self.error(f"{what} {spec.name}: missing argument {p.name}", node)
                default = p.default
                out.append(lambda ctx, this, d=default: d)
            elif p.query or isinstance(n, A.Lambda):
                out.append(self.query_arg(n, scope))
            else:
                out.append(self.expr(n, scope))
        for extra in node.args[len(params):]:
            out.append(self.expr(extra, scope))
        return out

    def x_Call(self, node: A.Call, scope: frozenset[str]) -> Expr:
        if node.name == "deleted" and not node.args:
            return lambda ctx, this: DELETED
        spec = FUNCTIONS.get(node.name)
        if spec is None:
            raise self.error(f"unrecognised function '{node.name}'", node)
        args = self.bind_args(spec, node, scope, "function")
        impl = spec.impl
        name = node.name

        def call(ctx: Context, this: Any) -> Any:
            values = [a(ctx, this) for a in args]
            try:
                return impl(ctx, *values)
            except QueryError as exc:
                if name == "throw":
                    raise
                raise QueryError(f"function {name}: {exc}") from None

        return call

    def x_MethodCall(self, node: A.MethodCall, scope: frozenset[str]) -> Expr:
        special = getattr(self, "m_" + node.name, None)
        if special is not None:
            return special(node, scope)
        spec = METHODS.get(node.name)
        if spec is None:
            raise self.error(f"unrecognised method '{node.name}'", node)
        if node.name == "apply" and node.args and isinstance(node.args[0], A.Literal):
            if node.args[0].value not in self.map_names:
                raise self.error(f"map {node.args[0].value} was not found", node.args[0])
        target = self.expr(node.target, scope)
        args = self.bind_args(spec, node, scope, "method")
        impl = spec.impl
        field = path_text(node.target)
        # Bento names the field a failing method was called on; otherwise we name the method.
        prefix = f"field `{field}`: " if field else f"method {node.name}: "
        wants_ctx = spec.wants_ctx

        if not args and not wants_ctx:
            def call0(ctx: Context, this: Any) -> Any:
                v = target(ctx, this)
                try:
                    return impl(v)
                except QueryError as exc:
                    raise QueryError(prefix + str(exc)) from None

            return call0

        def call(ctx: Context, this: Any) -> Any:
            v = target(ctx, this)
            values = [a(ctx, this) for a in args]
            try:
                if wants_ctx:
                    return impl(ctx, v, *values)
                return impl(v, *values)
            except QueryError as exc:
                raise QueryError(prefix + str(exc)) from None

        return call

    # -- methods that control evaluation of their target --------------------
    def m_catch(self, node: A.MethodCall, scope: frozenset[str]) -> Expr:
        if len(node.args) + len(node.kwargs) != 1:
            raise self.error("method catch: expected one argument", node)
        arg = node.args[0] if node.args else next(iter(node.kwargs.values()))
        target = self.expr(node.target, scope)
        if isinstance(arg, A.Lambda):
            fallback = self.query_arg(arg, scope)

            def catch_lambda(ctx: Context, this: Any) -> Any:
                try:
                    return target(ctx, this)
                except MappingError as exc:
                    return fallback(ctx, this)(str(exc))

            return catch_lambda
        value = self.expr(arg, scope)

        def catch(ctx: Context, this: Any) -> Any:
            try:
                return target(ctx, this)
            except MappingError:
                return value(ctx, this)

        return catch

    def m_or(self, node: A.MethodCall, scope: frozenset[str]) -> Expr:
        if len(node.args) + len(node.kwargs) != 1:
            raise self.error("method or: expected one argument", node)
        arg = node.args[0] if node.args else next(iter(node.kwargs.values()))
        return self.x_Binary(A.Binary(node.pos, "|", node.target, arg), scope)

    def m_from(self, node: A.MethodCall, scope: frozenset[str]) -> Expr:
        if len(node.args) != 1:
            raise self.error("method from: expected one argument", node)
        target = self.expr(node.target, scope)
        index = self.expr(node.args[0], scope)

        def from_(ctx: Context, this: Any) -> Any:
            i = index(ctx, this)
            if type(i) is not int:
                raise expected("integer", i)
            return target(self.other_message_ctx(ctx, i), LAZY)

        return from_

    def m_from_all(self, node: A.MethodCall, scope: frozenset[str]) -> Expr:
        target = self.expr(node.target, scope)

        def from_all(ctx: Context, this: Any) -> Any:
            size = len(ctx.batch) if ctx.batch is not None else 1
            out = []
            for i in range(size):
                try:
                    out.append(target(self.other_message_ctx(ctx, i), LAZY))
                except MappingError:
                    out.append(None)
            return out

        return from_all

    @staticmethod
    def other_message_ctx(ctx: Context, index: int) -> Context:
        msg = ctx.message_at(index)
        c = Context(msg, ctx.batch, index % (len(ctx.batch) if ctx.batch else 1), ctx.maps,
                    msg.meta if msg is not None else {})
        c.vars = ctx.vars
        c.params = ctx.params
        return c
