"""Errors raised while compiling or executing Bloblang."""

from __future__ import annotations


class BloblangError(Exception):
    """Base class of every Bloblang error."""


class ParseError(BloblangError):
    """A mapping, query or interpolation that does not parse.

    The message names the line and column (both 1-based) and shows the offending
    line with a caret under the column.
    """

    def __init__(self, explanation: str, source: str, pos: int) -> None:
        # An error at the end of the input points just after the last character written rather
        # than on the line after it (a YAML block scalar always ends with a newline, and the line
        # after it in the config file is another field).
        end = len(source.rstrip())
        if pos > end and "\n" in source[end:pos]:
            pos = end
        line, column, text = locate(source, pos)
        self.explanation = explanation
        self.line = line
        self.column = column
        self.source = source
        caret = " " * (column - 1) + "^"
        super().__init__(f"line {line} char {column}: {explanation}\n  {text}\n  {caret}")


class MappingError(BloblangError):
    """A runtime failure of a mapping or query (Bento's recoverable mapping error)."""


def locate(source: str, pos: int) -> tuple[int, int, str]:
    pos = max(0, min(pos, len(source)))
    line_start = source.rfind("\n", 0, pos) + 1
    line_end = source.find("\n", pos)
    if line_end < 0:
        line_end = len(source)
    line = source.count("\n", 0, pos) + 1
    return line, pos - line_start + 1, source[line_start:line_end]
