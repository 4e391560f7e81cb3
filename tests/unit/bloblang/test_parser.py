from __future__ import annotations

import pytest

from engine.bloblang import BloblangError, ParseError, compile_interpolation, compile_mapping, compile_query


def parse_error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        compile_mapping(text)
    return info.value


def test_error_points_at_line_and_column_with_caret() -> None:
    err = parse_error("root = this.foo bar")
    assert (err.line, err.column) == (1, 17)
    assert str(err) == "line 1 char 17: expected end of input\n  root = this.foo bar\n                  ^"
    assert isinstance(err, BloblangError)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("root = ", 1, 8, "expected expression"),
        ('root = "abc', 1, 12, "end quote"),
        ("root = (1 + 2", 1, 14, "expected )"),
        ("root = [1,2", 1, 12, "expected , or ]"),
        ("root.a = 1\nroot.b = 2 +\n", 2, 13, "expected expression"),  # at the end of the text, not on the next line
        ("root.a = 1\n  root.b 2", 2, 10, "expected ="),
        ('import "foo.blobl"', 1, 1, "import statements are not supported"),
        ("root = nope()", 1, 8, "unrecognised function 'nope'"),
        ('root = "x".nope()', 1, 12, "unrecognised method 'nope'"),
        ('root = this.apply("missing")', 1, 19, "map missing was not found"),
        ("root = this.replace_all(bad: 1)", 1, 13, "unknown parameter bad"),
        ("root = this.uppercase(1)", 1, 13, "expected at most 0 arguments"),
        ('root = "\\q"', 1, 9, "invalid escape"),
        ("root = 1 ~ 2", 1, 10, "unexpected character"),
        ("if true {\n  root = 1\n", 2, 11, "expected }"),
        ("root = x -> x", 1, 8, "lambda"),
    ],
)
def test_parse_errors(text: str, line: int, column: int, fragment: str) -> None:
    err = parse_error(text)
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in str(err)


def test_query_rejects_trailing_tokens() -> None:
    with pytest.raises(ParseError) as info:
        compile_query("this.a this.b")
    assert info.value.column == 8


def test_interpolation_error_position_is_in_the_whole_string() -> None:
    with pytest.raises(ParseError) as info:
        compile_interpolation("abc ${! nope() }")
    assert info.value.column == 9


def test_comments_and_blank_lines() -> None:
    m = compile_mapping("# leading comment\n\nroot.a = 1 # trailing\n\n# end\n")
    assert m is not None


def test_multiline_expressions_inside_brackets() -> None:
    compile_mapping('root = [\n  1,\n  2,\n]\nroot.b = {\n  "a": 1,\n}\nroot.c = this.f(\n  1,\n  2\n)'.replace("this.f", "range"))
