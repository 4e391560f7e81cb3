from __future__ import annotations

import re

import pytest

from engine.bloblang import MappingError, ParseError, compile_interpolation, compile_query, function
from engine.message import Message


def q(expr: str, msg: Message | None = None) -> object:
    return compile_query(expr).query(msg if msg is not None else Message(b'{"a":{"b":1}}', {"k": "v"}))


def test_message_functions() -> None:
    assert q("content()") == b'{"a":{"b":1}}'
    assert q('json("a.b")') == 1
    assert q("json()") == {"a": {"b": 1}}
    assert q('meta("k")') == "v"
    assert q('meta("missing")') is None
    assert q('metadata("k")') == "v"
    assert q("metadata()") == {"k": "v"}
    assert q("error()") is None
    assert q("errored()") is False
    assert q("batch_index()") == 0
    assert q("batch_size()") == 1


def test_generators() -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", q("uuid_v4()"))  # type: ignore[arg-type]
    assert len(q("nanoid()")) == 21  # type: ignore[arg-type]
    assert len(q("nanoid(5, \"ab\")")) == 5  # type: ignore[arg-type]
    assert 1 <= q("random_int(min: 1, max: 3)") <= 3  # type: ignore[operator]
    assert isinstance(q("timestamp_unix()"), int)
    assert isinstance(q("timestamp_unix_nano()"), int)
    assert re.match(r"\d{4}-\d{2}-\d{2}T", q("now()"))  # type: ignore[arg-type]
    assert isinstance(q("hostname()"), str)
    assert q("count(\"test-counter-x\")") + 1 == q("count(\"test-counter-x\")")  # type: ignore[operator]


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOBL_TEST_ENV", "yes")
    assert q('env("BLOBL_TEST_ENV")') == "yes"
    assert q('env("BLOBL_TEST_ENV_MISSING")') is None


def test_range_and_throw() -> None:
    assert q("range(0, 10, 3)") == [0, 3, 6, 9]
    assert q("range(3, 0)") == [3, 2, 1]
    with pytest.raises(MappingError, match="oops"):
        q('throw("oops")')
    assert q('throw("oops").catch("ok")') == "ok"


def test_function_errors_name_the_function() -> None:
    with pytest.raises(MappingError, match="function range"):
        q('range("a", 2)')


def test_custom_function_registration() -> None:
    @function("test_double", "n")
    def _double(ctx: object, n: int) -> int:
        return n * 2

    assert q("test_double(21)") == 42


def test_interpolation() -> None:
    i = compile_interpolation('topic-${! meta("k") }-${! this.id }')
    assert not i.is_static
    msg = Message(b'{"id":3}', {"k": "v"})
    assert i.render(msg) == "topic-v-3"
    assert i.render_bytes(msg) == b"topic-v-3"


def test_static_and_escaped_interpolation() -> None:
    i = compile_interpolation("plain ${{! not a query }} text")
    assert i.is_static
    assert i.render(Message(b"")) == "plain ${! not a query } text"


def test_interpolation_with_braces_inside() -> None:
    i = compile_interpolation('${! {"a": this.x}.a }/${! "}" }')
    assert i.render(Message(b'{"x":"y"}')) == "y/}"


def test_interpolation_single_query_keeps_bytes() -> None:
    assert compile_interpolation("${! content() }").render_bytes(Message(b"\xff\x00")) == b"\xff\x00"


def test_interpolation_parse_error() -> None:
    with pytest.raises(ParseError):
        compile_interpolation("${! this.a ")
