"""Statements, operators and expression forms."""

from __future__ import annotations

import pytest

from engine.bloblang import MappingError, compile_mapping, compile_query
from engine.message import Message

from bloblang_helpers import run, value


# -- literals and arithmetic ---------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("2 * 2", 4),
        ("7 / 2", 3.5),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("1.5 + 1", 2.5),
        ("-(3)", -3),
        ('"foo" + "bar"', "foobar"),
        ("1 == 1.0", True),
        ('"1" == 1', False),
        ("null == null", True),
        ("[1, {\"a\": 2}] == [1, {\"a\": 2}]", True),
        ("3 > 2 && 2 >= 2", True),
        ("1 < 2 || 1 / 0 > 0", True),
        ("false && 1 / 0 > 0", False),
        ("!true", False),
        ('"b" > "a"', True),
        ("true != false", True),
        ('"""raw \\n text"""', "raw \\n text"),
        ('"tab\\tquote\\"\\u00e9"', 'tab\tquote"\u00e9'),
    ],
)
def test_expressions(expr: str, expected: object) -> None:
    got = value(expr)
    assert got == expected and type(got) is type(expected)


def test_division_of_whole_numbers_prints_like_bento() -> None:
    # Bento's float64 4/2 serialises as 2; we keep that output.
    assert run("root = 4 / 2", raw=b"") == 2


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ('root = this.a + 1', 'cannot add types string ("foo") and number (1)'),
        ("root = this.a * 2", "cannot multiply"),
        ("root = 1 / this.z", "divide by zero"),
        ("root = this.a > 1", "cannot compare"),
        ("root = !this.a", "expected bool value, got string"),
        ("root = this.a && true", "expected bool value"),
        ("root = -this.a", "expected number value"),
    ],
)
def test_type_errors(mapping: str, fragment: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, {"a": "foo", "z": 0})
    assert "failed assignment (line 1)" in str(info.value)
    assert fragment in str(info.value)


# -- paths ------------------------------------------------------------------------------
def test_paths() -> None:
    doc = {"a": {"b": [10, {"c": "x"}]}, "foo.bar": 1, "buz bev": {"fub": "hi"}}
    assert value("this.a.b.0", doc) == 10
    assert value("this.a.b.1.c", doc) == "x"
    assert value("a.b.1.c", doc) == "x"
    assert value('this."foo.bar"', doc) == 1
    assert value('this."buz bev".fub', doc) == "hi"
    assert value("this.missing.deeper", doc) is None
    assert value("this.a.b.5", doc) is None


def test_coalescing() -> None:
    doc = {"thing": {"comment": {"type": "c"}}}
    assert value("this.thing.(article | comment).type", doc) == "c"
    assert value("this.nope | this.thing.comment.type", doc) == "c"
    assert value('this.thing.(article | this).comment.type', doc) == "c"
    assert value('this.a.uppercase() | "fallback"', {"a": 5}) == "fallback"


def test_context_capture_and_named_context() -> None:
    doc = {"foo": {"bar": {"baz": 1, "buz": 2}}, "k": 10}
    assert value("this.foo.bar.(this.baz + this.buz)", doc) == 3
    assert value("this.foo.bar.(x -> x.baz + this.k)", doc) == 11


def test_bracket_index_and_slices() -> None:
    doc = {"s": "hello", "a": ["a", "b", "c", "d"]}
    assert value("this.s[0]", doc) == "h"
    assert value("this.s[-1]", doc) == "o"
    assert value("this.a[1:3]", doc) == ["b", "c"]
    assert value("this.s[::-1]", doc) == "olleh"


# -- statements ---------------------------------------------------------------------------
def test_root_assignments_build_a_new_document() -> None:
    out = run('root.a.b = this.x\nroot."c.d" = 1\nroot.e = [1, this.x]\nroot.f = {"k": this.x, this.key: 2}',
              {"x": "v", "key": "dyn"})
    assert out == {"a": {"b": "v"}, "c.d": 1, "e": [1, "v"], "f": {"k": "v", "dyn": 2}}


def test_root_this_then_edit_does_not_touch_input() -> None:
    msg = Message(b'{"a":{"b":1},"c":2}')
    out = compile_mapping("root = this\nroot.a.b = 5\nroot.c = deleted()").apply(msg)
    assert msg.structured == {"a": {"b": 1}, "c": 2}
    assert out.structured == {"a": {"b": 5}}


def test_bare_paths_and_this_as_target() -> None:
    assert run("foo.bar = 1\nthis.baz = 2") == {"foo": {"bar": 1}, "baz": 2}


def test_root_reads_see_the_new_document() -> None:
    assert run("root.a = 1\nroot.b = root.a + 1") == {"a": 1, "b": 2}


def test_unassigned_root_keeps_payload() -> None:
    out = compile_mapping('meta foo = "bar"').apply(Message(b"not json at all"))
    assert out.raw == b"not json at all"
    assert out.meta == {"foo": "bar"}


def test_string_and_bytes_roots_are_raw() -> None:
    assert compile_mapping('root = "hi"').apply(Message(b"{}")).raw == b"hi"
    assert compile_mapping('root = "hi".bytes()').apply(Message(b"{}")).raw == b"hi"
    assert compile_mapping("root = 5").apply(Message(b"{}")).raw == b"5"


def test_deleting() -> None:
    assert compile_mapping("root = deleted()").apply(Message(b"{}")) is None
    assert run("root = this\nroot.a = deleted()", {"a": 1, "b": 2}) == {"b": 2}


def test_variables() -> None:
    assert run("let x = this.a\nlet y = $x + 1\nroot.v = $y", {"a": 1}) == {"v": 2}
    with pytest.raises(MappingError, match="variable nope undefined"):
        run("root = $nope")


def test_if_statement() -> None:
    mapping = 'if this.n > 5 {\n  root.size = "big"\n} else if this.n > 2 {\n  root.size = "medium"\n} else {\n  root.size = "small"\n}'
    assert run(mapping, {"n": 9}) == {"size": "big"}
    assert run(mapping, {"n": 3}) == {"size": "medium"}
    assert run(mapping, {"n": 1}) == {"size": "small"}


def test_if_expression_without_else_skips_assignment() -> None:
    assert run('root.a = 1\nroot.a = if this.n > 5 { 2 }', {"n": 1}) == {"a": 1}
    assert run('root.a = if this.n > 5 { 2 } else { 3 }', {"n": 9}) == {"a": 2}


def test_if_condition_must_be_bool() -> None:
    with pytest.raises(MappingError, match="expected bool value"):
        run("root = if this.n { 1 }", {"n": 1})


def test_match() -> None:
    m = 'root = match this.t {\n  "a" => "is a",\n  this.length() > 3 => "long"\n  _ => "other"\n}'
    assert run(m, {"t": "a"}) == "is a"
    assert run(m, {"t": "abcd"}) == "long"
    assert run(m, {"t": "b"}) == "other"
    assert run('root = match { this.x == 1 => "one", _ => "many" }', {"x": 1}) == "one"
    assert run("root = match this.pet { this.treats > 5 => this.treats - 5, _ => 0 }",
               {"pet": {"treats": 7}}) == 2


def test_maps_and_apply() -> None:
    mapping = 'map thing {\n  root.inner = this.first\n  let x = "ignored"\n}\nroot.foo = this.doc.apply("thing")'
    assert run(mapping, {"doc": {"first": "hi"}}) == {"foo": {"inner": "hi"}}
    recursive = ('map walk {\n  root = match {\n    this.type() == "object" => this.map_each(kv -> kv.value.apply("walk")),\n'
                 '    this.type() == "string" => this.uppercase(),\n    _ => this,\n  }\n}\nroot = this.apply("walk")')
    assert run(recursive, {"a": {"b": "x"}, "n": 1}) == {"a": {"b": "X"}, "n": 1}


def test_lambdas_in_methods() -> None:
    assert value("[1, 2, 3].map_each(x -> x + 1)") == [2, 3, 4]
    assert value("[1, 2, 3].map_each(this * 2)") == [2, 4, 6]
    assert value("[3, 11, 4].filter(n -> n > 3)") == [11, 4]
    assert value("[1, 2].map_each(a -> [10, 20].map_each(b -> a + b))") == [[11, 21], [12, 22]]


def test_named_arguments() -> None:
    assert value('"a-b".replace_all(old: "-", new: "+")') == "a+b"
    assert value("range(start: 0, stop: 6, step: 2)") == [0, 2, 4]


def test_catch_and_or() -> None:
    assert value('this.a.number().catch(0)', {"a": "x"}) == 0
    assert value('this.a.number().catch(e -> e.contains("number"))', {"a": "x"}) is True
    assert value("this.a.or(5)", {}) == 5
    assert value("this.a.or(5)", {"a": 1}) == 1
    assert value("(1 / 0).or(2)") == 2
    assert value("this.a.not_null().catch(\"was null\")", {}) == "was null"


def test_metadata() -> None:
    mapping = ('meta out = "new"\nmeta gone = deleted()\nroot.new = @out\nroot.orig = meta("gone")\n'
               'root.typed = metadata("n")\nroot.all = @')
    out = compile_mapping(mapping).apply(Message(b"{}", {"gone": "x", "n": 5}))
    assert out.structured == {"new": "new", "orig": "x", "typed": 5, "all": {"n": 5, "out": "new"}}
    assert out.meta == {"n": 5, "out": "new"}
    assert compile_mapping("meta = deleted()").apply(Message(b"{}", {"a": "b"})).meta == {}
    assert compile_mapping('meta = {"x": "y"}').apply(Message(b"{}", {"a": "b"})).meta == {"x": "y"}
    assert compile_mapping('@x = "y"').apply(Message(b"{}")).meta == {"x": "y"}


def test_meta_function_stringifies() -> None:
    assert compile_query('meta("n")').query(Message(b"", {"n": 5})) == "5"


def test_non_json_payload_error_only_when_this_is_used() -> None:
    assert compile_mapping("root = content().uppercase()").apply(Message(b"abc")).raw == b"ABC"
    with pytest.raises(MappingError, match="unable to reference message as structured"):
        compile_mapping("root = this.a").apply(Message(b"abc"))


def test_mutation_edits_in_place() -> None:
    msg = Message(b'{"a":1,"b":{"c":2}}', {"m": "x", "k": "v"})
    m = compile_mapping("root.b.d = this.b.c + this.a\nthis.e = root.b.d\nmeta m = deleted()")
    assert m.mutate(msg) is msg
    assert msg.structured == {"a": 1, "b": {"c": 2, "d": 3}, "e": 3}
    assert msg.meta == {"k": "v"}
    assert compile_mapping("root = deleted()").mutate(Message(b"{}")) is None
    untouched = Message(b"raw bytes")
    assert compile_mapping('meta a = "b"').mutate(untouched).raw == b"raw bytes"


def test_apply_is_reusable_across_messages() -> None:
    m = compile_mapping("root.n = this.n * 2")
    assert [m.apply(Message(f'{{"n":{i}}}'.encode())).structured for i in range(3)] == [{"n": 0}, {"n": 2}, {"n": 4}]


def test_error_and_batch_functions() -> None:
    msg = Message(b"{}")
    msg.error = "boom"
    batch = [Message(b'{"i":0}'), msg, Message(b'{"i":2}')]
    q = compile_query("[error(), errored(), batch_index(), batch_size()]")
    assert q.query(msg, batch, 1) == ["boom", True, 1, 3]
    assert compile_query("this.i.from(2)").query(batch[0], batch, 0) == 2
    assert compile_query("json(\"i\").from_all()").query(batch[0], batch, 0) == [0, None, 2]


def test_error_flag_is_carried_to_output() -> None:
    msg = Message(b"{}")
    msg.error = "earlier failure"
    assert compile_mapping("root.a = 1").apply(msg).error == "earlier failure"
