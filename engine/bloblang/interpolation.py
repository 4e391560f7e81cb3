"""Bento interpolated strings: literal text with ``${! query }`` parts."""

from __future__ import annotations


from .errors import ParseError


def split_interpolation(text: str) -> list[tuple[bool, str, int]]:
    """Split into (is_query, text, offset) parts; ``${{!`` escapes a literal ``${!``."""
    from .parser import Parser

    parts: list[tuple[bool, str, int]] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("${{!", i):
            end = text.find("}}", i)
            if end < 0:
                literal.append(text[i:])
                break
            literal.append("${!" + text[i + 4 : end] + "}")
            i = end + 2
            continue
        if text.startswith("${!", i):
            if literal:
                parts.append((False, "".join(literal), i))
                literal = []
            start = i + 3
            # The query ends at the first `}` that leaves a complete expression before it.
            close = text.find("}", start)
            last_error: ParseError | None = None
            while close >= 0:
                candidate = text[start:close]
                try:
                    Parser(candidate).parse_query()
                except ParseError as exc:
                    last_error = exc
                    close = text.find("}", close + 1)
                    continue
                break
            if close < 0:
                if last_error is not None and last_error.explanation != "expected expression, got end of input":
                    raise ParseError(last_error.explanation, text, start + _offset(last_error))
                raise ParseError("required: expected end of interpolation }", text, n)
            parts.append((True, text[start:close], start))
            i = close + 1
            continue
        literal.append(text[i])
        i += 1
    if literal:
        parts.append((False, "".join(literal), n))
    return parts


def _offset(err: ParseError) -> int:
    lines = err.source.split("\n")
    return sum(len(l) + 1 for l in lines[: err.line - 1]) + err.column - 1


