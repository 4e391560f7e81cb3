"""Tokeniser for Bloblang source text."""

from __future__ import annotations

from typing import NamedTuple

from .errors import ParseError
from .values import norm_float

# Token kinds
NUM = "number"
STR = "string"
IDENT = "identifier"
VAR = "variable"
META = "metadata"
OP = "operator"
NL = "newline"
EOF = "end of input"

_TWO_CHAR_OPS = {"==", "!=", "<=", ">=", "&&", "||", "->", "=>"}
_ONE_CHAR_OPS = set("+-*/%!<>=|.,:(){}[]")
_IDENT_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | set("0123456789")
_DIGITS = set("0123456789")
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'", "/": "/",
}


class Token(NamedTuple):
    kind: str
    value: object
    pos: int


def tokenize(src: str) -> list[Token]:
    """Split ``src`` into tokens; newlines are kept because they end statements."""
    out: list[Token] = []
    append = out.append
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            if not out or out[-1].kind != NL:
                append(Token(NL, "\n", i))
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif c in _DIGITS:
            j = i
            while j < n and src[j] in _DIGITS:
                j += 1
            after_dot = bool(out) and out[-1].kind == OP and out[-1].value == "."
            is_float = False
            # `this.a.0.b` must keep the dots as path separators, and `10.pow()` is a method call.
            if not after_dot and j + 1 < n and src[j] == "." and src[j + 1] in _DIGITS:
                is_float = True
                j += 1
                while j < n and src[j] in _DIGITS:
                    j += 1
            if not after_dot and j < n and src[j] in "eE":
                k = j + 1
                if k < n and src[k] in "+-":
                    k += 1
                if k < n and src[k] in _DIGITS:
                    is_float = True
                    j = k
                    while j < n and src[j] in _DIGITS:
                        j += 1
            text = src[i:j]
            # A whole float literal (`1.0`) is printed by Bento as `1`: keep it as the int it equals.
            append(Token(NUM, norm_float(float(text)) if is_float else int(text), i))
            i = j
        elif c in _IDENT_START:
            j = i + 1
            while j < n and src[j] in _IDENT_CHARS:
                j += 1
            append(Token(IDENT, src[i:j], i))
            i = j
        elif c == '"':
            if src.startswith('"""', i):
                j = src.find('"""', i + 3)
                if j < 0:
                    raise ParseError("required: end quote (\"\"\")", src, i)
                append(Token(STR, src[i + 3 : j], i))
                i = j + 3
            else:
                value, i2 = _read_string(src, i)
                append(Token(STR, value, i))
                i = i2
        elif c == "$":
            j = i + 1
            while j < n and src[j] in _IDENT_CHARS:
                j += 1
            if j == i + 1:
                raise ParseError("expected variable name after $", src, i + 1)
            append(Token(VAR, src[i + 1 : j], i))
            i = j
        elif c == "@":
            j = i + 1
            while j < n and src[j] in _IDENT_CHARS:
                j += 1
            append(Token(META, src[i + 1 : j], i))
            i = j
        else:
            two = src[i : i + 2]
            if two in _TWO_CHAR_OPS:
                append(Token(OP, two, i))
                i += 2
            elif c in _ONE_CHAR_OPS:
                append(Token(OP, c, i))
                i += 1
            else:
                raise ParseError(f"unexpected character {c!r}", src, i)
    append(Token(EOF, None, n))
    return out


def _read_string(src: str, start: int) -> tuple[str, int]:
    """Read a double-quoted string with Go-style escapes; returns (value, index after quote)."""
    parts: list[str] = []
    i = start + 1
    n = len(src)
    while True:
        if i >= n or src[i] == "\n":
            raise ParseError("required: end quote", src, i)
        c = src[i]
        if c == '"':
            return "".join(parts), i + 1
        if c != "\\":
            j = i
            while j < n and src[j] not in '"\\\n':
                j += 1
            parts.append(src[i:j])
            i = j
            continue
        if i + 1 >= n:
            raise ParseError("required: end quote", src, i)
        e = src[i + 1]
        if e in _SIMPLE_ESCAPES:
            parts.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = src[i + 2 : i + 2 + width]
            try:
                if len(digits) != width:
                    raise ValueError
                parts.append(chr(int(digits, 16)))
            except ValueError:
                raise ParseError(f"invalid escape sequence \\{e}{digits}", src, i) from None
            i += 2 + width
        elif e in "01234567":
            digits = src[i + 1 : i + 4]
            try:
                parts.append(chr(int(digits, 8)))
            except ValueError:
                raise ParseError(f"invalid escape sequence \\{digits}", src, i) from None
            i += 4
        else:
            raise ParseError(f"invalid escape sequence \\{e}", src, i)
