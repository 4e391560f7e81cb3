"""Pratt parser: Bloblang tokens to the syntax tree in ``ast``."""

from __future__ import annotations

from . import ast as A
from .errors import ParseError
from .lexer import EOF, IDENT, META, NL, NUM, OP, STR, VAR, Token, tokenize

# Binding power of the binary operators; all are left associative. As in Bento, the coalescing
# pipe binds as tightly as `*` (`"a" + this.b | "c"` is `"a" + (this.b | "c")`), and `&&` and `||`
# share one level, evaluated left to right (`true || false && false` is false).
_BINARY = {
    "||": 3, "&&": 3,
    "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
    "+": 5, "-": 5,
    "*": 6, "/": 6, "%": 6, "|": 6,
}
_RESERVED_TARGETS = {"if", "match", "else"}


class Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0
        # Newlines end statements, but inside brackets and expression blocks they are blank space.
        self.skip_nl = [False]

    # -- token helpers -------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        i = self.i
        toks = self.toks
        skip = self.skip_nl[-1]
        while True:
            t = toks[i]
            if t.kind == NL and skip:
                i += 1
                continue
            if ahead == 0:
                return t
            ahead -= 1
            i += 1

    def next(self) -> Token:
        toks = self.toks
        if self.skip_nl[-1]:
            while toks[self.i].kind == NL:
                self.i += 1
        t = toks[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def is_op(self, value: str, ahead: int = 0) -> bool:
        t = self.peek(ahead)
        return t.kind == OP and t.value == value

    def is_ident(self, value: str, ahead: int = 0) -> bool:
        t = self.peek(ahead)
        return t.kind == IDENT and t.value == value

    def expect_op(self, value: str) -> Token:
        t = self.peek()
        if t.kind != OP or t.value != value:
            self.fail(f"expected {value}", t)
        return self.next()

    def fail(self, explanation: str, tok: Token | None = None) -> None:
        tok = tok or self.peek()
        if tok.kind == EOF and "end of input" not in explanation:
            explanation = f"{explanation}, got end of input"
        raise ParseError(explanation, self.src, tok.pos)

    def skip_newlines(self) -> None:
        while self.toks[self.i].kind == NL:
            self.i += 1

    def line_of(self, pos: int) -> int:
        return self.src.count("\n", 0, pos) + 1

    # -- mappings ------------------------------------------------------------
    def parse_mapping(self) -> list[A.Node]:
        try:
            return self.parse_statements(top=True)
        except ParseError as exc:
            # Bento's shorthand: a mapping that is a single expression (`this.doc`,
            # `{"id": this.id}`) means `root = <expression>`. When neither reading works, the
            # error of the one that got further is reported.
            if exc.explanation.endswith("not supported"):  # e.g. import: no second reading
                raise
            single = Parser(self.src)
            try:
                expr = single.parse_query()
            except ParseError as other:
                if (other.line, other.column) <= (exc.line, exc.column):
                    raise exc from None
                if other.explanation == "expected end of input":
                    other = ParseError("expected end of input: a mapping that starts with a bare expression is "
                                       "shorthand for `root = <expression>` and cannot be followed by other "
                                       "statements", self.src, _offset(self.src, other.line, other.column))
                raise other from None
            return [A.Assign(expr.pos, "root", [], expr, single.line_of(expr.pos))]

    def parse_statements(self, top: bool) -> list[A.Node]:
        stmts: list[A.Node] = []
        self.skip_newlines()
        while True:
            t = self.peek()
            if t.kind == EOF:
                if not top:
                    self.fail("expected }", t)
                return stmts
            if not top and t.kind == OP and t.value == "}":
                return stmts
            stmts.append(self.parse_statement(top))
            t = self.peek()
            if t.kind == NL:
                self.skip_newlines()
            elif t.kind == EOF or (not top and t.kind == OP and t.value == "}"):
                continue
            else:
                self.fail("expected end of input" if top else "expected new line or }", t)

    def parse_statement(self, top: bool) -> A.Node:
        t = self.peek()
        if t.kind == IDENT:
            word = t.value
            if word == "import":
                self.fail("import statements are not supported", t)
            if word == "map" and self.peek(1).kind == IDENT and self.is_op("{", 2):
                if not top:
                    self.fail("map definitions are only allowed at the top level of a mapping", t)
                self.next()
                name = self.next().value
                self.expect_op("{")
                self.skip_nl.append(False)
                body = self.parse_statements(top=False)
                self.skip_nl.pop()
                self.expect_op("}")
                return A.MapDef(t.pos, name, body)
            if word == "if":
                return self.parse_if_statement()
            if word == "let":
                self.next()
                name_tok = self.next()
                if name_tok.kind not in (IDENT, STR):
                    self.fail("expected variable name", name_tok)
                self.expect_op("=")
                value = self.parse_expr()
                return A.Assign(t.pos, "let", [name_tok.value], value, self.line_of(t.pos))
            if word == "meta" and not self.is_op(".", 1):
                self.next()
                key: list[str] = []
                if not self.is_op("="):
                    key_tok = self.next()
                    if key_tok.kind not in (IDENT, STR):
                        self.fail("expected metadata key or =", key_tok)
                    key = [key_tok.value]
                self.expect_op("=")
                value = self.parse_expr()
                return A.Assign(t.pos, "meta", key, value, self.line_of(t.pos))
        if t.kind == META:
            self.next()
            self.expect_op("=")
            value = self.parse_expr()
            return A.Assign(t.pos, "meta", [t.value] if t.value else [], value, self.line_of(t.pos))
        path = self.parse_target_path()
        self.expect_op("=")
        value = self.parse_expr()
        return A.Assign(t.pos, "root", path, value, self.line_of(t.pos))

    def parse_target_path(self) -> list[str]:
        t = self.next()
        if t.kind == IDENT and t.value in ("root", "this"):
            segs: list[str] = []
        elif t.kind == IDENT and t.value not in _RESERVED_TARGETS:
            segs = [t.value]
        elif t.kind == STR:
            segs = [t.value]
        else:
            self.fail("expected assignment target (root, a path, meta, let, if or map)", t)
        while self.is_op("."):
            self.next()
            s = self.next()
            if s.kind in (IDENT, STR):
                segs.append(s.value)
            elif s.kind == NUM and isinstance(s.value, int):
                segs.append(str(s.value))
            else:
                self.fail("expected path segment", s)
        return segs

    def parse_if_statement(self) -> A.IfStmt:
        start = self.next()
        branches: list[tuple[A.Node, list[A.Node]]] = []
        otherwise = None
        while True:
            cond = self.parse_expr()
            branches.append((cond, self.parse_block()))
            if not self.is_ident("else"):
                break
            self.next()
            if self.is_ident("if"):
                self.next()
                continue
            otherwise = self.parse_block()
            break
        return A.IfStmt(start.pos, branches, otherwise, self.line_of(start.pos))

    def parse_block(self) -> list[A.Node]:
        self.expect_op("{")
        self.skip_nl.append(False)
        body = self.parse_statements(top=False)
        self.skip_nl.pop()
        self.expect_op("}")
        return body

    # -- expressions ---------------------------------------------------------
    def parse_query(self) -> A.Node:
        self.skip_newlines()
        expr = self.parse_expr()
        self.skip_newlines()
        t = self.peek()
        if t.kind != EOF:
            self.fail("expected end of input", t)
        return expr

    def parse_expr(self, min_bp: int = 0) -> A.Node:
        left = self.parse_unary()
        while True:
            t = self.peek()
            if t.kind != OP:
                return left
            bp = _BINARY.get(t.value)
            if bp is None or bp <= min_bp:
                return left
            self.next()
            self.skip_nl.append(True)
            right = self.parse_expr(bp)
            self.skip_nl.pop()
            left = A.Binary(t.pos, t.value, left, right)

    def parse_unary(self) -> A.Node:
        t = self.peek()
        if t.kind == OP and t.value in ("!", "-"):
            self.next()
            operand = self.parse_unary()
            if t.value == "-" and isinstance(operand, A.Literal) and type(operand.value) in (int, float):
                return A.Literal(t.pos, -operand.value)
            return A.Unary(t.pos, t.value, operand)
        return self.parse_postfix(self.parse_primary())

    def parse_postfix(self, node: A.Node) -> A.Node:
        while True:
            t = self.peek()
            if t.kind != OP:
                return node
            if t.value == ".":
                self.next()
                s = self.next()
                if s.kind == IDENT and self.is_op("("):
                    args, kwargs = self.parse_args()
                    node = A.MethodCall(s.pos, node, s.value, args, kwargs)
                elif s.kind in (IDENT, STR) or (s.kind == NUM and isinstance(s.value, int)):
                    seg = str(s.value)
                    if isinstance(node, A.Path):
                        node.segments.append(seg)
                    else:
                        node = A.Path(s.pos, node, [seg])
                elif s.kind == OP and s.value == "(":
                    self.skip_nl.append(True)
                    body = self.parse_lambda_or_expr()
                    self.expect_op(")")
                    self.skip_nl.pop()
                    lam = body if isinstance(body, A.Lambda) else A.Lambda(body.pos, None, body)
                    node = A.Capture(s.pos, node, lam)
                else:
                    self.fail("expected method or path segment after .", s)
            elif t.value == "[":
                node = self.parse_bracket(node)
            else:
                return node

    def parse_bracket(self, target: A.Node) -> A.Node:
        open_tok = self.next()
        self.skip_nl.append(True)
        parts: list[A.Node | None] = [None]
        colons = 0
        while not self.is_op("]"):
            if self.is_op(":"):
                self.next()
                colons += 1
                if colons > 2:
                    self.fail("too many : in slice")
                parts.append(None)
                continue
            if parts[-1] is not None:
                self.fail("expected : or ]")
            parts[-1] = self.parse_expr()
        self.next()
        self.skip_nl.pop()
        if colons == 0:
            if parts[0] is None:
                self.fail("expected index expression", open_tok)
            return A.Index(open_tok.pos, target, parts[0])
        while len(parts) < 3:
            parts.append(None)
        return A.Slice(open_tok.pos, target, parts[0], parts[1], parts[2])

    def parse_lambda_or_expr(self) -> A.Node:
        t = self.peek()
        if t.kind == IDENT and self.is_op("->", 1):
            self.next()
            self.next()
            body = self.parse_expr()
            return A.Lambda(t.pos, t.value, body)
        return self.parse_expr()

    def parse_args(self) -> tuple[list[A.Node], dict[str, A.Node]]:
        self.expect_op("(")
        self.skip_nl.append(True)
        args: list[A.Node] = []
        kwargs: dict[str, A.Node] = {}
        while not self.is_op(")"):
            t = self.peek()
            if t.kind == IDENT and self.is_op(":", 1):
                self.next()
                self.next()
                if t.value in kwargs:
                    self.fail(f"duplicate named argument {t.value}", t)
                kwargs[t.value] = self.parse_lambda_or_expr()
            else:
                if kwargs:
                    self.fail("cannot mix named and nameless arguments", t)
                args.append(self.parse_lambda_or_expr())
            if self.is_op(","):
                self.next()
            elif not self.is_op(")"):
                self.fail("expected , or )")
        self.next()
        self.skip_nl.pop()
        return args, kwargs

    def parse_primary(self) -> A.Node:
        t = self.next()
        kind = t.kind
        if kind == NUM or kind == STR:
            return A.Literal(t.pos, t.value)
        if kind == VAR:
            return A.Var(t.pos, t.value)
        if kind == META:
            return A.Meta(t.pos, t.value or None)
        if kind == IDENT:
            word = t.value
            if word == "true":
                return A.Literal(t.pos, True)
            if word == "false":
                return A.Literal(t.pos, False)
            if word == "null":
                return A.Literal(t.pos, None)
            if word == "this":
                return A.This(t.pos)
            if word == "root":
                return A.Root(t.pos)
            if word == "if":
                return self.parse_if_expr(t)
            if word == "match":
                return self.parse_match(t)
            if self.is_op("->"):
                self.next()
                return A.Lambda(t.pos, word, self.parse_expr())
            if self.is_op("("):
                args, kwargs = self.parse_args()
                return A.Call(t.pos, word, args, kwargs)
            return A.Name(t.pos, word)
        if kind == OP:
            if t.value == "(":
                self.skip_nl.append(True)
                inner = self.parse_lambda_or_expr()
                self.expect_op(")")
                self.skip_nl.pop()
                return inner
            if t.value == "[":
                return self.parse_array(t)
            if t.value == "{":
                return self.parse_object(t)
        if kind == EOF:
            self.fail("expected expression, got end of input", t)
        self.fail("expected expression", t)
        raise AssertionError

    def parse_array(self, start: Token) -> A.ArrayLit:
        self.skip_nl.append(True)
        items: list[A.Node] = []
        while not self.is_op("]"):
            items.append(self.parse_expr())
            if self.is_op(","):
                self.next()
            elif not self.is_op("]"):
                self.fail("expected , or ]")
        self.next()
        self.skip_nl.pop()
        return A.ArrayLit(start.pos, items)

    def parse_object(self, start: Token) -> A.ObjectLit:
        self.skip_nl.append(True)
        pairs: list[tuple[A.Node, A.Node]] = []
        while not self.is_op("}"):
            key = self.parse_expr()
            self.expect_op(":")
            value = self.parse_expr()
            pairs.append((key, value))
            if self.is_op(","):
                self.next()
            elif not self.is_op("}"):
                self.fail("expected , or }")
        self.next()
        self.skip_nl.pop()
        return A.ObjectLit(start.pos, pairs)

    def parse_expr_block(self) -> A.Node:
        self.expect_op("{")
        self.skip_nl.append(True)
        body = self.parse_expr()
        self.expect_op("}")
        self.skip_nl.pop()
        return body

    def parse_if_expr(self, start: Token) -> A.IfExpr:
        branches: list[tuple[A.Node, A.Node]] = []
        otherwise = None
        while True:
            cond = self.parse_expr()
            branches.append((cond, self.parse_expr_block()))
            if not self.is_ident("else"):
                break
            self.next()
            if self.is_ident("if"):
                self.next()
                continue
            otherwise = self.parse_expr_block()
            break
        return A.IfExpr(start.pos, branches, otherwise)

    def parse_match(self, start: Token) -> A.Match:
        subject = None
        if not self.is_op("{"):
            subject = self.parse_expr()
        self.expect_op("{")
        self.skip_nl.append(True)
        cases: list[A.MatchCase] = []
        while not self.is_op("}"):
            t = self.peek()
            if t.kind == IDENT and t.value == "_" and self.is_op("=>", 1):
                self.next()
                pattern = None
            else:
                pattern = self.parse_expr()
            self.expect_op("=>")
            body = self.parse_expr()
            cases.append(A.MatchCase(pattern, body))
            if self.is_op(","):
                self.next()
        self.next()
        self.skip_nl.pop()
        return A.Match(start.pos, subject, cases)


def _offset(src: str, line: int, column: int) -> int:
    lines = src.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


def parse_mapping(src: str) -> list[A.Node]:
    return Parser(src).parse_mapping()


def parse_query(src: str) -> A.Node:
    return Parser(src).parse_query()
