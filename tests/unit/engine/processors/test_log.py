"""The `log` processor: one log event per message, interpolated message, structured fields, messages untouched."""

from __future__ import annotations

import logging

import orjson
import pytest

from engine import logs as logs_module
from engine.errors import ConfigError
from engine.message import Message
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config


def test_logs_each_message_interpolated_and_passes_the_same_objects(run, logs) -> None:
    procs = build("""
        - log:
            level: WARN
            message: 'got ${! content() } with k=${! meta("k") }'
    """)
    batch = messages("a", "b")
    batch[0].meta["k"] = "one"
    batch[1].meta["k"] = "two"
    out = run(process(procs, batch))
    assert out == batch and all(a is b for a, b in zip(out, batch))
    assert [m.raw for m in out] == [b"a", b"b"]
    assert logs.messages(logging.WARNING) == ["got a with k=one", "got b with k=two"]
    assert all(m.error is None for m in out)


def test_default_level_is_info_and_disabled_levels_are_not_rendered(run, logs) -> None:
    procs = build("""
        - log:
            message: 'info ${! content() }'
        - log:
            level: DEBUG
            message: 'debug ${! content() }'
    """)
    logging.getLogger("asyncgate").setLevel(logging.INFO)
    run(process(procs, messages("x")))
    assert logs.messages() == ["info x"]
    assert logs.records[0].levelno == logging.INFO


@pytest.mark.parametrize("level,expected", [("FATAL", logging.CRITICAL), ("ERROR", logging.ERROR),
                                            ("warn", logging.WARNING), ("TRACE", logging.DEBUG),
                                            ("ALL", logging.DEBUG)])
def test_levels(run, logs, level: str, expected: int) -> None:
    procs = build(f"""
        - log:
            level: {level}
            message: hello
    """)
    run(process(procs, messages("x")))
    assert [(r.levelno, r.getMessage()) for r in logs.records] == [(expected, "hello")]


def test_fields_mapping_attaches_fields_and_the_formatter_prints_them(run, logs) -> None:
    procs = build("""
        - log:
            message: hello world
            fields_mapping: |
              root.reason = "to log"
              root.id = this.id
              root.topic = meta("topic")
    """)
    msg = Message(b'{"id": 42, "user": {"age": 7}}', {"topic": "orders"})
    out = run(process(procs, [msg]))
    assert out[0] is msg and msg.raw == b'{"id": 42, "user": {"age": 7}}'
    (record,) = logs.records
    assert record.getMessage() == "hello world"
    assert record.fields == {"reason": "to log", "id": 42, "topic": "orders"}  # type: ignore[attr-defined]

    logfmt = logs_module._Formatter("logfmt", False).format(record)
    assert 'msg="hello world"' in logfmt and 'reason="to log"' in logfmt
    assert " id=42" in logfmt and " topic=orders" in logfmt
    as_json = orjson.loads(logs_module._Formatter("json", False).format(record))
    assert as_json["msg"] == "hello world" and as_json["id"] == 42 and as_json["reason"] == "to log"


def test_a_failing_fields_mapping_is_logged_and_the_message_still_passes(run, logs) -> None:
    procs = build("""
        - log:
            message: never printed
            fields_mapping: 'root = this.id'
    """)
    batch = messages('{"id": 5}', "not json")
    out = run(process(procs, batch))
    assert out == batch and all(m.error is None for m in out)
    errors = logs.messages(logging.ERROR)
    assert len(errors) == 2
    assert "non-object" in errors[0]
    assert "fields mapping" in errors[1]
    assert "never printed" not in logs.messages()


def test_error_function_in_message(run, logs) -> None:
    procs = build("""
        - log:
            level: ERROR
            message: 'failed: ${! error() }'
    """)
    msg = Message(b"x")
    msg.error = "it broke"
    out = run(process(procs, [msg]))
    assert out[0].error == "it broke"  # log does not clear the flag
    assert logs.messages(logging.ERROR) == ["failed: it broke"]


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("""
            - log:
                level: LOUD
                mesage: hi
        """))
    text = str(info.value)
    assert 'test.yaml:6:16: level: "LOUD" is not one of' in text
    assert 'test.yaml:7:9: unknown field "mesage"' in text and 'did you mean "message"' in text


def test_deprecated_fields_is_accepted_with_a_warning() -> None:
    loaded = load(stream_config("""
        - log:
            message: hi
            fields:
              a: b
    """))
    assert any('"fields" is not supported' in str(w) and "test.yaml:7:" in str(w) for w in loaded.warnings)


def test_bad_interpolation_or_mapping_is_a_located_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("""
            - log:
                message: '${! this.( }'
                fields_mapping: 'root = ('
        """))
    text = str(info.value)
    assert "test.yaml:6:" in text and "message: invalid interpolation" in text
    assert "test.yaml:7:" in text and "fields_mapping: invalid mapping" in text


def test_bad_bloblang_given_directly_fails_the_factory() -> None:
    from engine.components.processors.log import LogProcessor

    with pytest.raises(ValueError, match="^message: "):
        LogProcessor("INFO", "${! this.( }", None)
    with pytest.raises(ValueError, match="^fields_mapping: "):
        LogProcessor("INFO", "", "root = (")


def test_end_to_end(run, logs) -> None:
    got = run(run_config(stream_config("""
        - log:
            message: 'seen ${! content() }'
    """), feed=["a", "b", "c"], expect=3))
    assert [m.raw for m in got] == [b"a", b"b", b"c"]
    assert [m for m in logs.messages(logging.INFO) if m.startswith("seen")] == ["seen a", "seen b", "seen c"]
