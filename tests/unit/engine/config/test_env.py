"""`${VAR}` / `${VAR:default}` interpolation, as Bento does it, and its located errors."""

from __future__ import annotations

import pytest

from engine.config.env import OffsetMap, interpolate_env
from engine.config.loader import load_text
from engine.errors import ConfigError

ENV = {"SET": "value", "EMPTY": "", "DOTTED.NAME": "dotted", "MULTI": "a\nb"}


@pytest.mark.parametrize("text, expected", [
    ("x: ${SET}", "x: value"),
    ("x: ${SET:other}", "x: value"),
    ("x: ${UNSET:fallback}", "x: fallback"),
    ("x: ${EMPTY:fallback}", "x: fallback"),  # an empty variable takes the default
    ("x: ${EMPTY}", "x: "),  # set, even to "", is not missing
    ("x: ${UNSET:}", "x: "),
    ("x: ${KAFKA:127.0.0.1:19092}", "x: 127.0.0.1:19092"),  # the default runs to the closing brace
    ("x: ${UNSET:tcp://*:2020}", "x: tcp://*:2020"),
    ("x: ${UNSET::}", "x: :"),
    ("x: ${UNSET:http://a.com?x=1#f}", "x: http://a.com?x=1#f"),
    ("x: ${DOTTED.NAME}", "x: dotted"),
    ("x: ${! meta(\"k\") }", "x: ${! meta(\"k\") }"),  # Bloblang interpolation is left alone
    ("x: ${!count(\"c\")}", "x: ${!count(\"c\")}"),
    ("x: $${SET}", "x: ${SET}"),  # escape
    ("x: $${UNSET:d}", "x: ${UNSET:d}"),
    ("x: ${{SET}}", "x: ${SET}"),  # Bento's escape
    ("x: ${UNSET:${! meta(\"a\") }-${! meta(\"b\") }}", "x: ${! meta(\"a\") }-${! meta(\"b\") }"),
    ("x: ${MULTI}", "x: a\\nb"),  # a newline cannot break the document
    ("x: ${}", "x: ${}"),
    ('x: re_replace_all("a", "${1}")', 'x: re_replace_all("a", "${1}")'),  # a group reference, not a variable
    ("a: ${SET}, b: ${UNSET:2}", "a: value, b: 2"),
])
def test_interpolation(text: str, expected: str) -> None:
    result, missing = interpolate_env(text, ENV)
    assert missing == []
    assert result == expected


def test_missing_variables_are_all_reported_with_their_offsets() -> None:
    text = "a: ${NOPE_A}\nb: ${SET}\nc: ${NOPE_B}"
    result, missing = interpolate_env(text, ENV)
    assert missing == [(3, "NOPE_A"), (text.index("${NOPE_B}"), "NOPE_B")]
    assert result == "a: \nb: value\nc: "


def test_the_process_environment_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCGATE_TEST_VAR", "from-env")
    assert interpolate_env("${ASYNCGATE_TEST_VAR}")[0] == "from-env"


def test_offset_map_points_back_into_the_original_text() -> None:
    offsets = OffsetMap()
    text = "ab ${LONG_NAME:x} cd ${SET} ef"
    result, _ = interpolate_env(text, ENV, offsets)
    assert result == "ab x cd value ef"
    assert offsets.original(result.index("cd")) == text.index("cd")
    assert offsets.original(result.index("ef")) == text.index("ef")
    assert offsets.original(result.index("x")) == text.index("${LONG_NAME")  # inside a value: at the `${`
    assert offsets.original(0) == 0


def test_a_missing_variable_is_a_located_error() -> None:
    yaml = "input:\n  inproc: x\noutput:\n  inproc: pre-${NOT_SET_ANYWHERE}\n"
    with pytest.raises(ConfigError) as info:
        load_text(yaml, "c.yaml", {})
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (4, 15)
    assert "NOT_SET_ANYWHERE" in diagnostic.message and "default" in diagnostic.message
    assert str(diagnostic).startswith("c.yaml:4:15: ")


def test_values_land_in_the_config_with_their_type() -> None:
    yaml = ("input:\n  stdin:\n    max_buffer: ${BUF:4096}\n"
            "output:\n  inproc: ${PIPE:127.0.0.1:19092}\n"
            "shutdown_timeout: ${TIMEOUT:1m30s}\n")
    config = load_text(yaml, "c.yaml", {"TIMEOUT": "2s"})
    stream = config.streams["main"]
    assert stream.input.config["max_buffer"] == 4096
    assert stream.output.config == "127.0.0.1:19092"
    assert config.shutdown_timeout == 2.0


def test_a_variable_inside_a_flow_list() -> None:
    yaml = 'input:\n  broker:\n    inputs: [{inproc: "${A:first}"}, {inproc: ${B:second}}]\noutput:\n  drop: {}\n'
    config = load_text(yaml, "c.yaml", {})
    children = config.streams["main"].input.config["inputs"]
    assert [c.config for c in children] == ["first", "second"]


def test_locations_after_a_substitution_are_those_of_the_original_text() -> None:
    # The substituted value is much shorter than `${...}`: the unknown key must still be found where it is written.
    yaml = "input: { stdin: { max_buffer: ${SIZE:1024}, codex: lines } }\noutput: { drop: {} }\n"
    with pytest.raises(ConfigError) as info:
        load_text(yaml, "c.yaml", {})
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (1, yaml.index("codex") + 1)
    assert 'did you mean "codec"' in diagnostic.message


def test_a_type_error_in_a_substituted_value_points_at_the_variable() -> None:
    yaml = "input:\n  stdin:\n    max_buffer: ${SIZE:lots}\noutput:\n  drop: {}\n"
    with pytest.raises(ConfigError) as info:
        load_text(yaml, "c.yaml", {})
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (3, 17)
    assert "expected an integer" in diagnostic.message
