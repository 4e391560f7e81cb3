"""Parsing YAML and JSON with the location of every key and value."""

from __future__ import annotations

import math

import pytest

from engine.config.parse import MAX_DEPTH, parse_document
from engine.errors import ConfigError


def parse(text: str, file: str = "c.yaml"):  # type: ignore[no-untyped-def]
    return parse_document(text, file, {})


def errors(text: str, file: str = "c.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, file)
    return [str(d) for d in info.value.diagnostics]


def test_values_and_locations_are_one_based() -> None:
    value, loc = parse("a:\n  b: [1, two]\n  c: {d: true}\n")
    assert value == {"a": {"b": [1, "two"], "c": {"d": True}}}
    assert loc.keys[("a",)] == (1, 1)
    assert loc.keys[("a", "b")] == (2, 3)
    assert loc.values[("a", "b")] == (2, 6)
    assert loc.values[("a", "b", 1)] == (2, 10)
    assert loc.keys[("a", "c", "d")] == (3, 7)
    assert loc.values[("a", "c", "d")] == (3, 10)
    # An unknown path falls back to its nearest known parent.
    assert loc.value(("a", "b", 7, "x")) == (2, 6)


def test_keys_are_taken_as_written() -> None:
    # YAML 1.1 would make these booleans and numbers; a key is a name.
    value, _ = parse("on: 1\nno: 2\n1: 3\n~: 4\n")
    assert list(value) == ["on", "no", "1", "~"]


def test_plain_scalars_keep_their_text() -> None:
    value, loc = parse("a: 0123\nb: 1.10\nc: off\nd: 2024-01-02\ne: 'quoted'\nf: 7\n")
    assert loc.raw[("a",)] == "0123"
    assert loc.raw[("b",)] == "1.10"
    assert loc.raw[("c",)] == "off"
    assert loc.raw[("d",)] == "2024-01-02"
    assert ("e",) not in loc.raw
    assert value["f"] == 7


def test_an_invalid_timestamp_is_a_string_not_a_crash() -> None:
    value, _ = parse("a: 2001-13-45\n")
    assert value == {"a": "2001-13-45"}


def test_malformed_yaml_is_located() -> None:
    [message] = errors("input:\n  stdin: {}\n output: x\n")
    assert message.startswith("c.yaml:3:")
    assert "invalid YAML" in message


def test_unclosed_flow_list() -> None:
    [message] = errors("input: [\n")
    assert message.startswith("c.yaml:2:1: invalid YAML")


def test_tab_indentation_in_yaml_is_located() -> None:
    [message] = errors("input:\n\tstdin: {}\n")
    assert message.startswith("c.yaml:2:1: invalid YAML")


def test_duplicate_keys_name_the_key_at_its_second_place() -> None:
    assert errors("a: 1\nb: 2\na: 3\n") == ['c.yaml:3:1: duplicate key "a"']


def test_several_documents() -> None:
    assert errors("a: 1\n---\nb: 2\n") == ["c.yaml:3:1: expected one document, found several (---)"]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_document(text: str) -> None:
    assert errors(text) == ["c.yaml:1:1: the config is empty"]


def test_a_byte_order_mark_is_ignored() -> None:
    value, loc = parse("\ufeffa: 1\nb: x\n")
    assert value == {"a": 1, "b": "x"}
    assert loc.keys[("a",)] == (1, 1)


def test_complex_keys_are_refused() -> None:
    [message] = errors("? [a, b]\n: 1\n")
    assert "mapping keys must be plain scalars" in message


def test_merge_keys_are_refused_clearly() -> None:
    [message] = errors("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert message == "c.yaml:3:3: YAML merge keys (<<) are not supported"


def test_aliases_are_expanded() -> None:
    value, _ = parse("a: &x [1, 2]\nb: *x\n")
    assert value == {"a": [1, 2], "b": [1, 2]}


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    [message] = errors("\n".join(lines) + "\n")
    assert "more than" in message and "aliases" in message


@pytest.mark.parametrize("file", ["deep.yaml", "deep.json"])
def test_deep_nesting_is_an_error_not_a_crash(file: str) -> None:
    depth = MAX_DEPTH + 50
    [message] = errors('{"a": ' + "[" * depth + "]" * depth + "}", file)
    assert "nested too deeply" in message


def test_nesting_below_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 5
    value, _ = parse("a: " + "[" * depth + "]" * depth)
    value = value["a"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


# -- JSON --------------------------------------------------------------------

def test_json_with_tab_indentation() -> None:
    text = '{\n\t"input": {\n\t\t"inproc": "x"\n\t},\n\t"n": [1, 2.5, true, null]\n}\n'
    value, loc = parse(text, "c.json")
    assert value == {"input": {"inproc": "x"}, "n": [1, 2.5, True, None]}
    assert loc.keys[("input",)] == (2, 2)
    assert loc.keys[("input", "inproc")] == (3, 3)
    assert loc.values[("input", "inproc")] == (3, 13)
    assert loc.values[("n", 1)] == (5, 11)


def test_json_numbers_are_json_numbers() -> None:
    # YAML 1.1 reads `1e5` as a string; JSON says it is a number.
    value, loc = parse('{"a": 1e5, "b": -2E-2, "c": 10, "d": 0.5}', "c.json")
    assert value == {"a": 100000.0, "b": -0.02, "c": 10, "d": 0.5}
    assert loc.raw[("a",)] == "1e5"


def test_json_escapes() -> None:
    value, _ = parse(r'{"a": "\ud83d\ude00", "b": "a\/b", "c": "tab\there", "d": "\u00e9"}', "c.json")
    assert value == {"a": "\U0001F600", "b": "a/b", "c": "tab\there", "d": "é"}


def test_json_constants() -> None:
    value, _ = parse('{"a": NaN, "b": -Infinity}', "c.json")
    assert math.isnan(value["a"]) and value["b"] == -math.inf


def test_json_syntax_errors_are_located() -> None:
    text = '{\n\t"input": {\n\t\t"inproc": "x",\n\t}\n}\n'
    assert errors(text, "c.json") == ["c.json:4:2: invalid JSON: Expecting property name enclosed in double quotes"]


def test_json_missing_comma() -> None:
    [message] = errors('{"a": 1\n "b": 2}', "c.json")
    assert message.startswith("c.json:2:2: invalid JSON: Expecting ',' delimiter")


def test_json_duplicate_keys() -> None:
    assert errors('{"a": 1,\n "a": {"b": 2}}', "c.json") == ['c.json:2:2: duplicate key "a"']


def test_json_content_in_a_yaml_file_is_read_as_json() -> None:
    value, _ = parse('{"a": 1e3}', "c.yaml")
    assert value == {"a": 1000.0}


def test_yaml_flow_content_that_is_not_json_is_still_yaml() -> None:
    value, _ = parse("{a: 1, b: [x, y]}", "c.yaml")
    assert value == {"a": 1, "b": ["x", "y"]}


def test_json_extension_is_case_insensitive() -> None:
    [message] = errors("{'a': 1}", "C.JSON")
    assert message.startswith("C.JSON:1:2: invalid JSON")


def test_recursive_aliases_are_refused() -> None:
    [message] = errors("a: &a [1, *a]\n")
    assert message == "c.yaml:1:4: this anchored node contains an alias of itself"


def test_columns_count_characters_not_bytes() -> None:
    value, loc = parse('k: "é€😀"\nz: [é, €, 😀, {d: 1}]\n')
    assert value["z"][3] == {"d": 1}
    assert loc.values[("z", 3)] == (2, 14)
    [message] = errors("a: [é€😀, }\n")
    assert message.startswith("c.yaml:1:10: invalid YAML")


def test_json_columns_count_characters() -> None:
    _, loc = parse('{"é€😀": {"x": 1}}', "c.json")
    assert loc.values[("é€😀", "x")] == (1, 15)


def test_scalar_styles_are_noted() -> None:
    _, loc = parse("a: plain\nb: 'single'\nc: \"double\"\nd: |\n  block\ne: >\n  folded\nf: 5\n")
    assert [loc.styles[(k,)] for k in "abcdef"] == [None, "'", '"', "|", ">", None]
    _, loc = parse('{"a": "s", "b": 1}', "c.json")
    assert loc.styles[("a",)] == '"' and loc.styles.get(("b",)) is None


def test_a_position_inside_a_block_scalar() -> None:
    _, loc = parse("m: |\n  root = this\n  root.x = (\nz: 1\n")
    assert loc.inside(("m",), 2, 11) == (3, 13)
    _, loc = parse('m: "root = ("\n')
    assert loc.inside(("m",), 1, 9) == (1, 13)
