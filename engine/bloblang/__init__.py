"""Bloblang, the mapping language of Bento's ``mapping`` and ``mutation`` processors.

    m = compile_mapping('root.id = this.id.uppercase()')
    out = m.apply(msg)            # a new Message, or None when the mapping deleted it
    m.mutate(msg)                 # edits msg in place (the `mutation` processor)
    m.apply_onto(target, msg)     # Bento's MapOnto: `this` is msg, root starts as target (`branch`)
    q = compile_query('this.type == "a"')
    q.query(msg)                  # a Python value
    i = compile_interpolation('topic-${! meta("k") }')
    i.render(msg)                 # a str
"""

from __future__ import annotations

from typing import Any, Callable

from .. import _fast
from ..message import LineBatch, Message, derive_batch, meta_copy, undecoded_payloads
from . import functions as _functions  # noqa: F401  (registers functions)
from . import methods as _methods  # noqa: F401  (registers methods)
from . import fastpath
from . import timestamps as _timestamps  # noqa: F401  (registers timestamp methods)
from .compiler import LAZY, Compiler, Context
from .errors import BloblangError, MappingError, ParseError
from .interpolation import split_interpolation
from .parser import Parser
from .registry import FUNCTIONS, METHODS, Param, function, method
from .values import DELETED, NOTHING, QueryError, exportable, to_bytes, to_string

__all__ = [
    "compile_mapping", "compile_query", "compile_interpolation",
    "Mapping", "Query", "Interpolation",
    "BloblangError", "ParseError", "MappingError",
    "function", "method", "Param", "FUNCTIONS", "METHODS",
]

_EMPTY_MAPS: dict[str, Any] = {}


class Mapping:
    """A compiled mapping; compile once, apply to many messages.

    Two fast paths are chosen here, once (see fastpath.py): a mapping that reads the input only
    through a few top-level fields gets them from the payload bytes without decoding the whole
    document (``_project``, with the compiled scanner), and a flat mapping of fields and arithmetic
    is run on the bytes altogether by ``apply_batch`` (``_flat``). Both fall back to the general
    path for any message they do not handle, so the results are always the same."""

    __slots__ = ("source", "_stmts", "_maps", "_project", "_flat", "_flat_lines")

    def __init__(self, source: str) -> None:
        self.source = source
        compiler = Compiler(source)
        tree = Parser(source).parse_mapping()
        self._stmts, self._maps = compiler.compile_mapping(tree)
        self._project: Callable[[bytes], dict[str, Any] | None] | None = None
        self._flat: Callable[[list[bytes | None]], list[bytes | None]] | None = None
        self._flat_lines: Callable[[bytes], bytes | None] | None = None
        keys = fastpath.top_level_reads(tree)
        if keys and _fast.jsonscan is not _fast._jsonscan_py:  # the twin decodes everything anyway
            self._project = _fast.jsonscan.Projector(keys).project
        plan = fastpath.flat_plan(tree)
        if plan is not None:
            try:
                flat = _fast.jsonscan.FlatMap(*plan)
            except (ValueError, TypeError, KeyError):
                pass
            else:
                self._flat, self._flat_lines = flat.run_many, flat.run_lines

    def _run(self, ctx: Context, this: Any = LAZY) -> None:
        try:
            for stmt in self._stmts:
                stmt(ctx, this)
        except QueryError as exc:  # raised outside any assignment, e.g. by an if condition
            raise MappingError(str(exc)) from None

    def apply(self, msg: Message, batch: list[Message] | None = None, index: int = 0) -> Message | None:
        """``mapping`` semantics: build a new message; the input is left untouched."""
        meta = meta_copy(msg)
        ctx = Context(msg, batch, index, self._maps, meta)
        this = LAZY
        project = self._project
        if project is not None and not msg.has_structured:
            # Only the fields the mapping reads, straight from the bytes (None: decode it all).
            this = project(msg.raw)
            if this is None:
                this = LAZY
        self._run(ctx, this)
        root = ctx.root
        if root is DELETED:
            return None
        if root is NOTHING:
            out = Message(msg.raw, meta)
        else:
            t = type(root)
            if t is str:
                out = Message(root.encode(), meta)
            elif t is bytes:
                out = Message(root, meta)
            elif msg.has_structured and root is msg.structured:
                out = Message(msg.raw, meta)
            else:
                out = Message.from_structured(exportable(root), meta)
        out.error = msg.error
        return out

    def apply_batch(self, batch: list[Message], failed: Callable[[Message, Exception], None]) -> list[Message]:
        """``apply`` to each message of BATCH: the new messages in order, without the deleted ones.
        A message whose mapping fails is handed to FAILED (which flags it) and kept unchanged."""
        made: list[Message | None] | None = None
        if self._flat is not None:
            # A flat mapping: the new payloads straight from the old ones, in one call.
            made = derive_batch(batch, self._flat(undecoded_payloads(batch)))
            if None not in made:
                return made  # type: ignore[return-value]
        out: list[Message] = []
        append = out.append
        apply = self.apply
        for index, msg in enumerate(batch):
            if made is not None:
                new = made[index]
                if new is not None:
                    append(new)
                    continue
            try:
                result = apply(msg, batch, index)
            except Exception as exc:  # noqa: BLE001 - a failing message is flagged and kept unchanged
                failed(msg, exc)
                append(msg)
                continue
            if result is not None:
                append(result)
        return out

    @property
    def maps_lines(self) -> bool:
        """Whether `apply_lines` can map a LineBatch (a flat mapping)."""
        return self._flat_lines is not None

    def apply_lines(self, batch: LineBatch) -> LineBatch | None:
        """What `apply_batch` makes of BATCH's messages, as a LineBatch, when the flat mapping handles
        every one of them (a flat mapping never deletes, nor touches metadata); None otherwise."""
        if self._flat_lines is None:
            return None
        data = self._flat_lines(batch.data)
        if data is None:
            return None
        return LineBatch(data, batch.count, batch.meta)

    def apply_onto(self, target: Message, msg: Message, batch: list[Message] | None = None,
                   index: int = 0) -> Message | None:
        """Bento's ``MapOnto``: map ``msg`` (``this``, ``metadata()``, ``content()``) onto a copy of
        ``target``, whose document is the starting ``root`` (nothing when it is empty or not JSON)
        and whose metadata ``meta``/``@`` edit. ``target`` itself is left untouched.

        The ``branch`` processor uses it twice: ``request_map`` onto an empty copy of the original
        message, and ``result_map`` (``this`` = the branch result) onto the original message.
        Returns the new message, or None when the mapping deleted it."""
        meta = dict(target.meta) if target.has_meta else {}
        base: Any = NOTHING
        if target.has_structured:
            base = target.structured
        elif target.raw:
            try:
                base = target.structured
            except ValueError:
                pass
        ctx = Context(msg, batch, index, self._maps, meta)
        ctx.root = base
        self._run(ctx)
        root = ctx.root
        if root is DELETED:
            return None
        if root is NOTHING or root is base:
            out = Message(target.raw, meta)
        else:
            t = type(root)
            if t is str:
                out = Message(root.encode(), meta)
            elif t is bytes:
                out = Message(root, meta)
            else:
                out = Message.from_structured(exportable(root), meta)
        out.error = target.error
        return out

    def mutate(self, msg: Message, batch: list[Message] | None = None, index: int = 0) -> Message | None:
        """``mutation`` semantics: edit ``msg`` in place; returns it, or None when deleted."""
        ctx = Context(msg, batch, index, self._maps, msg.meta, mutating=True)
        try:
            self._run(ctx)
        except MappingError:
            # As in Bento, where a mutation edits the document in place: what was assigned
            # before the failing statement stays (the caller flags the message as errored).
            if ctx.root is not DELETED:
                self._store(msg, ctx.root)
            raise
        root = ctx.root
        if root is DELETED:
            return None
        self._store(msg, root)
        return msg

    @staticmethod
    def _store(msg: Message, root: Any) -> None:
        if root is NOTHING or (msg.has_structured and root is msg.structured):
            return
        t = type(root)
        if t is str:
            msg.set_raw(root.encode())
        elif t is bytes:
            msg.set_raw(root)
        else:
            msg.set_structured(exportable(root))

    def __repr__(self) -> str:
        return f"Mapping({self.source!r})"


class Query:
    """A compiled single expression."""

    __slots__ = ("source", "_fn")

    def __init__(self, source: str, _node: Any = None, _maps: Any = None) -> None:
        self.source = source
        node = _node if _node is not None else Parser(source).parse_query()
        self._fn = Compiler(source).expr(node, frozenset())

    def query(self, msg: Message | None, batch: list[Message] | None = None, index: int = 0) -> Any:
        meta = msg.meta if msg is not None else {}
        ctx = Context(msg, batch, index, _EMPTY_MAPS, meta)
        try:
            v = self._fn(ctx, LAZY)
        except QueryError as exc:
            raise MappingError(str(exc)) from None
        if v is NOTHING or v is DELETED:
            return None
        return v

    def __repr__(self) -> str:
        return f"Query({self.source!r})"


class Interpolation:
    """A Bento interpolated string such as ``topic-${! meta("k") }``."""

    __slots__ = ("source", "_parts", "is_static")

    def __init__(self, source: str) -> None:
        self.source = source
        parts: list[str | Query] = []
        for is_query, text, offset in split_interpolation(source):
            if not is_query:
                parts.append(text)
                continue
            try:
                parts.append(Query(text))
            except ParseError as exc:
                pos = offset + _pos_in(text, exc.line, exc.column)
                raise ParseError(exc.explanation, source, pos) from None
        self._parts = parts
        self.is_static = all(isinstance(p, str) for p in parts)

    def render(self, msg: Message | None, batch: list[Message] | None = None, index: int = 0) -> str:
        parts = self._parts
        if self.is_static:
            return "".join(parts)  # type: ignore[arg-type]
        out = []
        for p in parts:
            if isinstance(p, str):
                out.append(p)
            else:
                out.append(to_string(p.query(msg, batch, index)))
        return "".join(out)

    def render_bytes(self, msg: Message | None, batch: list[Message] | None = None, index: int = 0) -> bytes:
        parts = self._parts
        if len(parts) == 1 and not isinstance(parts[0], str):
            return to_bytes(parts[0].query(msg, batch, index))
        return self.render(msg, batch, index).encode()

    def __repr__(self) -> str:
        return f"Interpolation({self.source!r})"


def _pos_in(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(l) + 1 for l in lines[: line - 1]) + column - 1


def compile_mapping(text: str) -> Mapping:
    """Compile a mapping (statements); raises ParseError."""
    return Mapping(text)


def compile_query(text: str) -> Query:
    """Compile a single expression; raises ParseError."""
    return Query(text)


def compile_interpolation(text: str) -> Interpolation:
    """Compile a ``${! ... }`` interpolated string; raises ParseError."""
    return Interpolation(text)
