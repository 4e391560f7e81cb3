"""The `switch` processor: first matching case, fallthrough, order kept, failing checks flagged."""

from __future__ import annotations

import pytest

from engine.errors import ComponentError, ConfigError
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config

FUNCS = """
    SEEN = []

    def tag(msg, mark="+"):
        return msg.raw + mark.encode()

    def record_batch(batch, name="case"):
        SEEN.append((name, [m.raw for m in batch]))
        return batch

    def split_batch(batch):
        out = []
        for m in batch:
            out.append(m.raw + b".1")
            out.append(m.raw + b".2")
        return out

    def drop(msg):
        return None
"""


def _seen(mod: str) -> list:
    import importlib

    return importlib.import_module(mod).SEEN


def test_first_matching_case_only_and_unmatched_pass_unchanged(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - check: this.type == "a"
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' A'}}}}
          - check: this.n > 1
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' N'}}}}
    """)
    batch = messages('{"type":"a","n":5}', '{"type":"b","n":5}', '{"type":"b","n":0}')
    out = run(process(procs, batch))
    assert [m.raw for m in out] == [b'{"type":"a","n":5} A', b'{"type":"b","n":5} N', b'{"type":"b","n":0}']
    assert out[2] is batch[2]
    assert all(m.error is None for m in out)


def test_empty_check_always_passes(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - check: content() == "x"
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' X'}}}}
          - processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' default'}}}}
    """)
    assert [m.raw for m in run(process(procs, messages("x", "y")))] == [b"x X", b"y default"]


def test_matched_messages_run_as_one_batch_and_the_result_keeps_arrival_order(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - check: content().number() % 2 == 0
            processors:
              - python: {{function: '{mod}:record_batch', batch: true, args: {{name: even}}}}
              - python: {{function: '{mod}:tag', args: {{mark: e}}}}
          - processors:
              - python: {{function: '{mod}:record_batch', batch: true, args: {{name: odd}}}}
              - python: {{function: '{mod}:tag', args: {{mark: o}}}}
    """)
    out = run(process(procs, messages(1, 2, 3, 4, 5, 6)))
    assert [m.raw for m in out] == [b"1o", b"2e", b"3o", b"4e", b"5o", b"6e"]
    assert _seen(mod) == [("even", [b"2", b"4", b"6"]), ("odd", [b"1", b"3", b"5"])]


def test_split_and_drop_inside_a_case_keep_the_original_places(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - check: content() == "b" || content() == "d"
            processors:
              - python: {{function: '{mod}:split_batch', batch: true}}
          - check: content() == "c"
            processors:
              - python: {{function: '{mod}:drop'}}
    """)
    out = run(process(procs, messages("a", "b", "c", "d", "e")))
    assert [m.raw for m in out] == [b"a", b"b.1", b"b.2", b"d.1", b"d.2", b"e"]


def test_fallthrough_runs_the_next_case_without_its_check(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - check: content().has_prefix("a")
            fallthrough: true
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' 1'}}}}
          - check: content().has_prefix("b")
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' 2'}}}}
          - processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' 3'}}}}
    """)
    out = run(process(procs, messages("a", "b", "c")))
    # "a" passes case 1 and falls into case 2 (whose check it would fail), then stops.
    assert [m.raw for m in out] == [b"a 1 2", b"b 2", b"c 3"]


def test_fallthrough_from_the_last_case_keeps_the_messages(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - fallthrough: true
            processors:
              - python: {{function: '{mod}:tag'}}
    """)
    assert [m.raw for m in run(process(procs, messages("a", "b")))] == [b"a+", b"b+"]


def test_failing_check_flags_the_message_and_skips_the_other_cases(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - switch:
          - check: this.n > 1
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' big'}}}}
          - check: this.n
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' never'}}}}
          - processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' default'}}}}
    """)
    batch = messages('{"n":5}', "not json", '{"n":0}')
    out = run(process(procs, batch))
    assert out[0].raw == b'{"n":5} big' and out[0].error is None
    assert out[1] is batch[1] and out[1].raw == b"not json"
    assert out[1].error is not None and "switch case 0 check" in out[1].error and "not valid JSON" in out[1].error
    # A check that is not a boolean is an error too: no default case for it.
    assert out[2].raw == b'{"n":0}' and "expected a boolean from the check, got number" in out[2].error


def test_end_to_end_with_catch(run, plugin) -> None:
    mod = plugin(FUNCS)
    got = run(run_config(stream_config(f"""
        - switch:
          - check: this.kind == "keep"
            processors:
              - python: {{function: '{mod}:tag', args: {{mark: ' kept'}}}}
          - check: this.kind == "drop"
            processors:
              - python: {{function: '{mod}:drop'}}
        - catch:
          - python: {{function: '{mod}:tag', args: {{mark: ' (check failed)'}}}}
    """), feed=['{"kind":"keep"}', '{"kind":"drop"}', "oops", '{"kind":"other"}'], expect=3))
    assert [(m.raw, m.error) for m in got] == [
        (b'{"kind":"keep"} kept', None), (b"oops (check failed)", None), (b'{"kind":"other"}', None)]


def test_build_errors() -> None:
    with pytest.raises(ComponentError, match=r"switch: cannot create: case 1 has no processors"):
        build("""
            - switch:
              - processors: [{catch: []}]
              - check: 'true'
        """)
    with pytest.raises(ConfigError, match=r"check: invalid query: "):
        build("""
            - switch:
              - check: 'this.a == '
                processors: [{catch: []}]
        """)


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("""
            - switch:
              - check: this.a
                procesors: []
              - fallthrough: maybe
                processors: [{bogus: {}}]
            - switch:
                cases: []
        """))
    text = str(info.value)
    assert 'test.yaml:7:9: unknown field "procesors"' in text and 'did you mean "processors"' in text
    assert "test.yaml:8:22: fallthrough: expected a boolean" in text
    assert 'test.yaml:9:23: unknown processor type "bogus"' in text
    assert "test.yaml:11:9: switch: expected a list of objects, got an object" in text
