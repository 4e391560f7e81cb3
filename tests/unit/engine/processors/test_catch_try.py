"""`catch` and `try`: Bento's error-handling composition, message by message."""

from __future__ import annotations

import logging

import pytest

from engine.errors import ConfigError
from engine.message import Message
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config

FUNCS = """
    SEEN = []

    def fail_on(msg, bad=("bad",)):
        if msg.raw.decode() in bad:
            raise ValueError("failed on " + msg.raw.decode())
        return msg

    def tag(msg, mark="+"):
        return msg.raw + mark.encode()

    def record_batch(batch):
        SEEN.append([m.raw for m in batch])
        return batch

    def drop(msg):
        return None

    def always_fail(msg):
        raise RuntimeError("again")

    def explode_batch(batch):
        raise RuntimeError("batch exploded")
"""


def _seen(mod: str) -> list:
    import importlib

    return importlib.import_module(mod).SEEN


def flagged(*pairs: tuple[str, str | None]) -> list[Message]:
    out = []
    for body, error in pairs:
        msg = Message(body.encode())
        msg.error = error
        out.append(msg)
    return out


# -- catch ---------------------------------------------------------------------------


def test_catch_runs_only_on_errored_messages_and_clears_the_flag(run, plugin, logs) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - catch:
          - log:
              level: ERROR
              message: 'caught ${{! content() }}: ${{! error() }}'
          - python: {{function: '{mod}:tag', args: {{mark: ' fixed'}}}}
    """)
    out = run(process(procs, flagged(("a", None), ("b", "it broke"), ("c", None), ("d", "also"))))
    assert [(m.raw, m.error) for m in out] == [(b"a", None), (b"b fixed", None), (b"c", None), (b"d fixed", None)]
    assert logs.messages(logging.ERROR) == ["caught b: it broke", "caught d: also"]


def test_catch_children_see_each_message_as_its_own_batch(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - catch:
          - python: {{function: '{mod}:record_batch', batch: true}}
    """)
    out = run(process(procs, flagged(("a", "x"), ("b", None), ("c", "y"))))
    assert [m.raw for m in out] == [b"a", b"b", b"c"]
    assert _seen(mod) == [[b"a"], [b"c"]]


def test_catch_clears_the_flag_even_when_a_child_fails_again_or_a_batch_child_raises(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - catch:
          - python: {{function: '{mod}:always_fail'}}
          - python: {{function: '{mod}:tag'}}
          - python: {{function: '{mod}:explode_batch', batch: true}}
    """)
    out = run(process(procs, flagged(("a", "first"))))
    # Caught messages stay caught through every child, even once re-flagged.
    assert [(m.raw, m.error) for m in out] == [(b"a+", None)]


def test_catch_child_can_drop_the_message(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - catch:
          - python: {{function: '{mod}:drop'}}
    """)
    out = run(process(procs, flagged(("a", None), ("b", "bad"), ("c", None))))
    assert [m.raw for m in out] == [b"a", b"c"]


def test_empty_catch_clears_flags(run) -> None:
    out = run(process(build("- catch: []"), flagged(("a", "x"), ("b", None))))
    assert [(m.raw, m.error) for m in out] == [(b"a", None), (b"b", None)]


def test_a_processor_raising_never_kills_the_stream_and_catch_sees_error(run, plugin) -> None:
    mod = plugin(FUNCS)
    got = run(run_config(stream_config(f"""
        - python: {{function: '{mod}:fail_on'}}
        - python: {{function: '{mod}:explode_batch', batch: true}}
        - catch:
          - switch:
            - check: 'error() == "failed on bad"'
              processors:
                - python: {{function: '{mod}:tag', args: {{mark: ' (first failure)'}}}}
            - check: 'error().contains("exploded")'
              processors:
                - python: {{function: '{mod}:tag', args: {{mark: ' (batch failure)'}}}}
    """), feed=["ok", "bad"], expect=2))
    # fail_on flagged "bad"; explode_batch then flagged every message (overwriting the text).
    assert [(m.raw, m.error) for m in got] == [(b"ok (batch failure)", None), (b"bad (batch failure)", None)]


# -- try -----------------------------------------------------------------------------


def test_try_skips_the_remaining_children_for_a_failed_message_only(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - try:
          - python: {{function: '{mod}:tag', args: {{mark: '1'}}}}
          - python: {{function: '{mod}:fail_on', args: {{bad: ['b1']}}}}
          - python: {{function: '{mod}:tag', args: {{mark: '3'}}}}
    """)
    out = run(process(procs, messages("a", "b", "c")))
    assert [(m.raw, m.error) for m in out] == [(b"a13", None), (b"b1", "failed on b1"), (b"c13", None)]


def test_try_skips_everything_for_a_message_errored_before_it(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - try:
          - python: {{function: '{mod}:tag'}}
    """)
    out = run(process(procs, flagged(("a", "earlier"), ("b", None))))
    assert [(m.raw, m.error) for m in out] == [(b"a", "earlier"), (b"b+", None)]


def test_try_children_see_batches_of_one_and_batch_failures_flag_that_message(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - try:
          - python: {{function: '{mod}:record_batch', batch: true}}
          - python: {{function: '{mod}:fail_on', args: {{bad: ['b']}}}}
          - python: {{function: '{mod}:record_batch', batch: true}}
    """)
    out = run(process(procs, messages("a", "b", "c")))
    assert [m.raw for m in out] == [b"a", b"b", b"c"]
    assert _seen(mod) == [[b"a"], [b"b"], [b"c"], [b"a"], [b"c"]]


def test_try_then_catch(run, plugin) -> None:
    mod = plugin(FUNCS)
    got = run(run_config(stream_config(f"""
        - try:
          - python: {{function: '{mod}:fail_on'}}
          - python: {{function: '{mod}:tag', args: {{mark: ' ok'}}}}
        - catch:
          - python: {{function: '{mod}:tag', args: {{mark: ' recovered'}}}}
    """), feed=["x", "bad", "y"], expect=3))
    assert [(m.raw, m.error) for m in got] == [(b"x ok", None), (b"bad recovered", None), (b"y ok", None)]


def test_try_inside_catch_runs_after_an_empty_catch(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - catch:
          - try:
            - python: {{function: '{mod}:tag', args: {{mark: ' never'}}}}
          - catch: []
          - try:
            - python: {{function: '{mod}:tag', args: {{mark: ' retried'}}}}
    """)
    out = run(process(procs, flagged(("a", "x"))))
    assert [(m.raw, m.error) for m in out] == [(b"a retried", None)]


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("""
            - catch:
              - log:
                  levle: INFO
            - try:
              - nosuch: {}
            - try: {}
        """))
    text = str(info.value)
    assert 'test.yaml:7:11: unknown field "levle"' in text and 'did you mean "level"' in text
    assert 'test.yaml:9:9: unknown processor type "nosuch"' in text
    assert "test.yaml:10:12: try: expected a list of processors, got an object" in text
