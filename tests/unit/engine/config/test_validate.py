"""Validation against the specs: every problem collected, located and explained."""

from __future__ import annotations

import textwrap

import pytest

from engine.config.loader import LoadedConfig, load_text
from engine.errors import ConfigError, Diagnostic


def load(text: str, file: str = "c.yaml") -> LoadedConfig:
    return load_text(textwrap.dedent(text), file, {})


def problems(text: str, file: str = "c.yaml") -> list[Diagnostic]:
    with pytest.raises(ConfigError) as info:
        load(text, file)
    return info.value.diagnostics


def lines(text: str, file: str = "c.yaml") -> list[str]:
    return [str(d) for d in problems(text, file)]


def test_a_valid_config_resolves_defaults() -> None:
    config = load("""
        input:
          stdin: {}
        output:
          stdout:
            codec: lines
    """)
    stream = config.streams["main"]
    assert (stream.input.type, stream.output.type) == ("stdin", "stdout")
    assert stream.input.config["codec"] == "lines"
    assert isinstance(stream.input.config["max_buffer"], int)
    assert stream.processors == []
    assert config.warnings == []
    assert config.http["address"] == "127.0.0.1:4195"
    assert config.logger["format"] == "logfmt"
    assert config.shutdown_timeout == 20.0


def test_unknown_field_is_located_at_its_key_with_a_suggestion() -> None:
    [d] = problems("""
        input:
          stdin:
            codex: lines
        output:
          drop: {}
    """)
    assert (d.line, d.column) == (4, 5)
    assert d.severity == "error"
    assert 'unknown field "codex"' in d.message
    assert '(did you mean "codec"?)' in d.message
    assert "expected one of: codec, max_buffer" in d.message


def test_unknown_top_level_field() -> None:
    [d] = problems("""
        input:
          stdin: {}
        output:
          drop: {}
        pipline:
          processors: []
    """)
    assert (d.line, d.column) == (6, 1)
    assert 'unknown field "pipline"' in d.message and 'did you mean "pipeline"' in d.message


def test_unknown_component_with_suggestion() -> None:
    assert lines("""
        input:
          stdn: {}
        output:
          stdot: {}
    """) == [
        'c.yaml:3:3: unknown input type "stdn" (did you mean "stdin"?)',
        'c.yaml:5:3: unknown output type "stdot" (did you mean "stdout"?)',
    ]


def test_unknown_component_without_a_close_name_has_no_suggestion() -> None:
    [d] = problems("""
        input:
          zzzqqq: {}
        output:
          drop: {}
    """)
    assert 'unknown input type "zzzqqq"' in d.message and "did you mean" not in d.message


def test_type_errors_point_at_the_value_and_name_the_type() -> None:
    assert lines("""
        input:
          stdin:
            max_buffer: lots
        output:
          drop: {}
        http:
          enabled: maybe
        shutdown_timeout: 10x
        logger:
          add_timestamp: [1]
    """) == [
        "c.yaml:4:17: max_buffer: expected an integer, got a string ('lots')",
        "c.yaml:8:12: enabled: expected a boolean (true or false), got a string",
        'c.yaml:9:19: shutdown_timeout: "10x" is not a duration (expected e.g. "500ms", "10s", "1m30s")',
        "c.yaml:11:18: add_timestamp: expected a boolean (true or false), got a list",
    ]


def test_a_float_for_an_integer() -> None:
    [d] = problems("""
        input:
          stdin:
            max_buffer: 1.5
        output:
          drop: {}
    """)
    assert "expected an integer, got a number (1.5)" in d.message


def test_a_whole_float_is_an_integer() -> None:
    config = load('{"input": {"stdin": {"max_buffer": 1e4}}, "output": {"drop": {}}}', "c.json")
    assert config.streams["main"].input.config["max_buffer"] == 10000


def test_an_object_where_a_string_is_expected() -> None:
    [d] = problems("""
        input:
          inproc: {name: x}
        output:
          drop: {}
    """)
    assert (d.line, d.column) == (3, 11)
    assert "expected a string, got an object" in d.message


def test_a_duration_must_be_a_string() -> None:
    [d] = problems("""
        input:
          stdin: {}
        output:
          drop: {}
        shutdown_timeout: 5
    """)
    assert 'expected a duration string (e.g. "5s"), got an integer' in d.message


def test_string_fields_take_plain_scalars_as_written() -> None:
    config = load("""
        input:
          inproc: 0123
        output:
          inproc: 1.10
        logger:
          level: OFF
    """)
    # YAML 1.1 would give 83, 1.1 and False; Bento (yaml.v3) gives the text.
    assert config.streams["main"].input.config == "0123"
    assert config.streams["main"].output.config == "1.10"
    assert config.logger["level"] == "OFF"


def test_options_are_checked_with_a_suggestion() -> None:
    [d] = problems("""
        input:
          stdin: {}
        output:
          drop: {}
        logger:
          format: jsn
    """)
    assert (d.line, d.column) == (7, 11)
    assert '"jsn" is not one of: logfmt, json' in d.message and 'did you mean "json"' in d.message


def test_missing_required_fields() -> None:
    assert lines("""
        pipeline:
          processors: []
    """) == [
        'c.yaml:2:1: missing required field "input" in (root)',
        'c.yaml:2:1: missing required field "output" in (root)',
    ]


def test_every_error_is_reported_sorted_by_position() -> None:
    found = lines("""
        output:
          nope: {}
        input:
          stdin:
            max_buffer: x
            extra: 1
    """)
    assert [f.split(": ")[0] for f in found] == ["c.yaml:3:3", "c.yaml:6:17", "c.yaml:7:5"]


def test_several_component_types_in_one_block() -> None:
    [d] = problems("""
        input:
          stdin: {}
          inproc: x
        output:
          drop: {}
    """)
    assert (d.line, d.column) == (4, 3)
    assert "expected one input type, found several: stdin, inproc" in d.message


def test_a_component_block_without_a_type() -> None:
    [d] = problems("""
        input:
          label: x
        output:
          drop: {}
    """)
    assert "no input type given; one of:" in d.message and "stdin" in d.message


def test_a_component_that_is_not_an_object() -> None:
    [d] = problems("""
        input: stdin
        output:
          drop: {}
    """)
    assert (d.line, d.column) == (2, 8)
    assert "expected an input (an object with one input type as its key), got a string" in d.message


def test_processors_must_be_a_list() -> None:
    [d] = problems("""
        input:
          stdin: {}
        pipeline:
          processors:
            sleep: {duration: 1s}
        output:
          drop: {}
    """)
    assert (d.line, d.column) == (6, 5)
    assert "processors: expected a list of processors, got an object" in d.message


def test_processors_beside_an_input_and_an_output() -> None:
    config = load("""
        input:
          stdin: {}
          processors:
            - sleep: {duration: 1ms}
        output:
          drop: {}
          processors:
            - sleep: {duration: 2ms}
    """)
    stream = config.streams["main"]
    assert [p.type for p in stream.input.processors] == ["sleep"]
    assert [p.type for p in stream.output.processors] == ["sleep"]
    assert stream.input.processors[0].path == "input.processors.0.sleep"


def test_drop_takes_an_empty_scalar() -> None:
    config = load("""
        input:
          stdin:
        output:
          drop: ""
    """)
    assert config.streams["main"].output.type == "drop"


# -- unsupported Bento fields are warnings -----------------------------------

def test_unsupported_fields_warn_and_are_located() -> None:
    config = load("""
        input:
          stdin: {}
        output:
          drop: {}
        buffer:
          memory: {}
        http:
          cert_file: /x.pem
        metrics:
          prometheus: {}
    """)
    assert [str(w) for w in config.warnings] == [
        'c.yaml:6:1: warning: field "buffer" is not supported by AsyncGate and is ignored',
        'c.yaml:9:3: warning: field "cert_file" is not supported by AsyncGate and is ignored',
        'c.yaml:10:1: warning: field "metrics" is not supported by AsyncGate and is ignored',
    ]
    assert all(w.severity == "warning" for w in config.warnings)
    assert "cert_file" not in config.http


def test_warnings_travel_with_errors() -> None:
    found = problems("""
        input:
          stdin: {}
        output:
          drop: {}
        tracer:
          none: {}
        nope: 1
    """)
    assert [(d.severity, d.line) for d in found] == [("error", 8), ("warning", 6)]


# -- labels ------------------------------------------------------------------

def test_labels_are_kept() -> None:
    config = load("""
        input:
          label: in_1
          stdin: {}
        output:
          label: out_2
          drop: {}
    """)
    assert config.streams["main"].input.label == "in_1"
    assert config.streams["main"].output.label == "out_2"
    assert config.streams["main"].output.where == 'output "out_2" at output.drop'


def test_a_duplicate_label_names_the_first() -> None:
    [d] = problems("""
        input:
          label: same
          stdin: {}
        pipeline:
          processors:
            - label: same
              sleep: {duration: 1ms}
        output:
          drop: {}
    """)
    assert (d.line, d.column) == (7, 14)
    assert d.message == 'label "same" is used twice (first at input, line 3 column 10)'


def test_the_same_label_in_two_streams_is_allowed() -> None:
    """Labels are scoped to their stream, as in Bento's streams mode (Tyk API definitions reuse them)."""
    config = load("""
        streams:
          a:
            input: {label: x, inproc: a}
            output: {drop: {}}
          b:
            input: {label: x, inproc: b}
            output: {drop: {}}
    """)
    assert [s.input.label for s in config.streams.values()] == ["x", "x"]


def test_a_duplicate_label_within_one_stream_of_many() -> None:
    [d] = problems("""
        streams:
          a:
            input: {label: x, inproc: a}
            output: {label: x, drop: {}}
    """)
    assert 'label "x" is used twice (first at streams.a.input' in d.message


@pytest.mark.parametrize("label", ["Upper", "with-dash", "with space", "dotted.name", "_hidden", "émoji", "a/b"])
def test_label_charset(label: str) -> None:
    [d] = problems(f"""
        input:
          label: "{label}"
          stdin: {{}}
        output:
          drop: {{}}
    """)
    assert (d.line, d.column) == (3, 10)
    assert f'label "{label}" must contain only lowercase letters, digits and "_"' in d.message


@pytest.mark.parametrize("label", ["a", "in_1", "0", "x_y_z9"])
def test_valid_labels(label: str) -> None:
    config = load(f"""
        input:
          label: {label}
          stdin: {{}}
        output:
          drop: {{}}
    """)
    assert config.streams["main"].input.label == label


def test_a_numeric_label_is_its_text() -> None:
    config = load("""
        input:
          label: 007
          stdin: {}
        output:
          drop: {}
    """)
    assert config.streams["main"].input.label == "007"


# -- rate limit resources ------------------------------------------------------

def test_rate_limit_resources_need_a_label() -> None:
    [d] = problems("""
        input:
          stdin: {}
        output:
          drop: {}
        rate_limit_resources:
          - local: {count: 1, interval: 1s}
    """)
    assert (d.line, d.column) == (7, 5)
    assert "needs a label" in d.message


def test_rate_limit_resources_by_label() -> None:
    config = load("""
        input:
          stdin: {}
        output:
          drop: {}
        rate_limit_resources:
          - label: slow
            local: {count: 1, interval: 1s}
    """)
    assert list(config.rate_limits) == ["slow"]
    assert config.rate_limits["slow"].type == "local"
