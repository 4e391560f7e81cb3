"""The `branch` processor: request_map → child processors → result_map, with Bento's semantics."""

from __future__ import annotations

import json
import logging

import pytest

from engine.errors import ConfigError
from engine.message import Message
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config

# A child that stands in for an HTTP lookup: answers with the customer's email.
LOOKUP = "- mapping: 'root.customer_email = this.customer_id + \"@example.com\"'"


def doc(msg: Message) -> object:
    return json.loads(msg.raw)


def test_request_map_children_and_result_map(run) -> None:
    [proc] = build(f"""
        - branch:
            request_map: |-
              root = {{
                "customer_id": this.customer_id
              }}
            processors:
              {LOOKUP}
            result_map: root.customer_email = this.customer_email
    """)
    original = Message(b'{"customer_id":"c1","order_value":2000}', {"k": "v"})
    [out] = run(process([proc], [original]))
    assert doc(out) == {"customer_id": "c1", "order_value": 2000, "customer_email": "c1@example.com"}
    assert out.meta == {"k": "v"} and out.error is None
    assert original.raw == b'{"customer_id":"c1","order_value":2000}'  # a new message; the input is untouched


def test_the_request_starts_empty_with_the_original_metadata(run, plugin) -> None:
    mod = plugin("""
        SEEN = []
        def record(msg):
            SEEN.append((msg.raw, dict(msg.meta)))
            return msg
    """)
    [proc] = build(f"""
        - branch:
            request_map: 'meta extra = "1"'
            processors:
              - python:
                  function: {mod}:record
    """)
    run(process([proc], [Message(b'{"a":1}', {"k": "v"})]))
    import importlib

    assert importlib.import_module(mod).SEEN == [(b"", {"k": "v", "extra": "1"})]


def test_without_request_map_the_branch_gets_an_exact_copy(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mutation: |
                  root.seen = @k
                  meta k = "changed in the branch"
            result_map: root.from_branch = this.seen
    """)
    original = Message(b'{"a":1}', {"k": "v"})
    [out] = run(process([proc], [original]))
    assert doc(out) == {"a": 1, "from_branch": "v"}
    assert out.meta == {"k": "v"}  # metadata changed in the branch is not copied back by itself
    assert original.raw == b'{"a":1}' and original.meta == {"k": "v"}


def test_result_map_reads_branch_metadata_with_metadata_and_the_original_with_at(run) -> None:
    [proc] = build("""
        - branch:
            request_map: 'root = this.id'
            processors:
              - mapping: |
                  meta code = "200"
                  root = {"pull_count": 1234}
            result_map: |
              meta foo_code = metadata("code")
              meta origin = @k
              root.image.pull_count = this.pull_count
    """)
    [out] = run(process([proc], [Message(b'{"id":"foo","some":"pre-existing data"}', {"k": "v"})]))
    assert doc(out) == {"id": "foo", "some": "pre-existing data", "image": {"pull_count": 1234}}
    assert out.meta == {"k": "v", "foo_code": "200", "origin": "v"}


def test_meta_equals_metadata_copies_all_branch_metadata(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: 'meta a = "1"'
            result_map: meta = metadata()
    """)
    [out] = run(process([proc], [Message(b"{}", {"orig": "x"})]))
    assert out.meta == {"orig": "x", "a": "1"}


def test_non_structured_result_with_content(run) -> None:
    [proc] = build("""
        - branch:
            request_map: 'root = this.document.id'
            processors:
              - mapping: 'root = "description of " + content().string()'
            result_map: root.document.description = content().string()
    """)
    [out] = run(process([proc], messages('{"document":{"id":"foo","content":"hello world"}}')))
    assert doc(out) == {"document": {"id": "foo", "content": "hello world", "description": "description of foo"}}


def test_without_result_map_the_original_is_unchanged(run, plugin) -> None:
    mod = plugin("""
        SEEN = []
        def record(msg):
            SEEN.append(msg.raw)
            return b"replaced"
    """)
    [proc] = build(f"""
        - branch:
            request_map: '{{"id":this.doc.id,"username":this.user.name}}'
            processors:
              - python:
                  function: {mod}:record
    """)
    original = Message(b'{"doc":{"id":"foo","body":"hello world"},"user":{"name":"fooey"}}')
    [out] = run(process([proc], [original]))
    assert out is original and out.raw == original.raw
    import importlib

    assert importlib.import_module(mod).SEEN == [b'{"id":"foo","username":"fooey"}']


def test_request_map_deleted_skips_the_branch_for_that_message(run) -> None:
    [proc] = build("""
        - branch:
            request_map: |
              root = if this.type == "foo" {
                this.document
              } else {
                deleted()
              }
            processors:
              - mapping: 'root.size = this.text.length()'
            result_map: root.size = this.size
    """)
    batch = messages('{"type":"foo","document":{"text":"hello"}}', '{"type":"bar","document":{"text":"xy"}}',
                     '{"type":"foo","document":{"text":"abc"}}')
    out = run(process([proc], batch))
    assert [doc(m) for m in out] == [
        {"type": "foo", "document": {"text": "hello"}, "size": 5},
        {"type": "bar", "document": {"text": "xy"}},
        {"type": "foo", "document": {"text": "abc"}, "size": 3},
    ]
    assert out[1] is batch[1] and all(m.error is None for m in out)


def test_every_request_deleted_runs_no_child(run) -> None:
    [proc] = build("""
        - branch:
            request_map: root = deleted()
            processors:
              - mapping: root = throw("must not run")
    """)
    batch = messages("{}", "{}")
    out = run(process([proc], batch))
    assert out == batch and all(m.error is None for m in out)


def test_a_failing_request_map_flags_only_that_message(run, logs) -> None:
    [proc] = build(f"""
        - branch:
            request_map: 'root.customer_id = this.customer_id.uppercase()'
            processors:
              {LOOKUP}
            result_map: root.customer_email = this.customer_email
    """)
    batch = messages('{"customer_id":"a"}', '{"customer_id":5}', '{"customer_id":"c"}')
    out = run(process([proc], batch))
    assert doc(out[0]) == {"customer_id": "a", "customer_email": "A@example.com"}
    assert out[1] is batch[1] and doc(out[1]) == {"customer_id": 5}
    assert out[1].error.startswith("request mapping failed: failed assignment (line 1): ")
    assert doc(out[2]) == {"customer_id": "c", "customer_email": "C@example.com"}
    assert out[0].error is None and out[2].error is None
    assert any("request mapping failed" in line for line in logs.messages(logging.ERROR))


def test_a_failing_child_flags_the_original_and_skips_result_map(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: 'root = this.n.number()'
            result_map: root.n = this
    """)
    batch = messages('{"n":"12"}', '{"n":"x"}')
    out = run(process([proc], batch))
    assert doc(out[0]) == {"n": 12} and out[0].error is None
    assert out[1] is batch[1] and doc(out[1]) == {"n": "x"}
    assert out[1].error.startswith("processors failed: failed assignment (line 1): ")


def test_a_failing_result_map_leaves_the_message_unchanged_and_flagged(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: 'root = {"code": this.code}'
            result_map: |
              meta result = "set before the failure"
              root.enrichments.foo = if this.code != 200 {
                throw("request failed with " + this.code.string())
              } else {
                this
              }
    """)
    batch = [Message(b'{"code":200}'), Message(b'{"code":500}', {"k": "v"})]
    out = run(process([proc], batch))
    assert doc(out[0]) == {"code": 200, "enrichments": {"foo": {"code": 200}}}
    assert out[1] is batch[1] and doc(out[1]) == {"code": 500} and out[1].meta == {"k": "v"}
    assert out[1].error == "result mapping failed: failed assignment (line 2): request failed with 500"


def test_result_map_deleted_leaves_the_original(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: 'root = 1'
            result_map: root = deleted()
    """)
    batch = messages('{"a":1}')
    out = run(process([proc], batch))
    assert out == batch and doc(out[0]) == {"a": 1}


def test_a_child_that_filters_flags_every_message(run, logs) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: 'root = if this.n == 2 { deleted() }'
            result_map: root.done = true
    """)
    batch = messages('{"n":1}', '{"n":2}', '{"n":3}')
    out = run(process([proc], batch))
    assert out == batch and [doc(m) for m in out] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert all(m.error == "message count from branch processors does not match request, started with 3 "
                          "messages, finished with 2" for m in out)
    assert logs.messages(logging.ERROR)


def test_a_child_that_drops_everything_flags_every_message(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: root = deleted()
            result_map: root.done = true
    """)
    out = run(process([proc], messages("{}", "{}")))
    assert [m.error for m in out] == ["child processors resulted in zero messages"] * 2


def test_an_earlier_error_does_not_enter_the_branch_and_stays_on_the_original(run) -> None:
    [proc] = build("""
        - branch:
            processors:
              - mapping: 'root = if errored() { throw("the flag leaked into the branch") } else { 1 }'
            result_map: root.result = this
    """)
    msg = Message(b'{"a":1}')
    msg.error = "earlier failure"
    [out] = run(process([proc], [msg]))
    assert doc(out) == {"a": 1, "result": 1}
    assert out.error == "earlier failure"


def test_batch_index_in_request_map_is_the_position_in_the_batch(run) -> None:
    [proc] = build("""
        - branch:
            request_map: 'root.i = batch_index()'
            processors:
              - mapping: 'root.i = this.i * 10'
            result_map: root.i = this.i
    """)
    out = run(process([proc], messages("{}", "{}", "{}")))
    assert [doc(m) for m in out] == [{"i": 0}, {"i": 10}, {"i": 20}]


def test_branch_in_a_running_stream(run) -> None:
    got = run(run_config(stream_config(f"""
        - branch:
            request_map: 'root.customer_id = this.customer_id'
            processors:
              {LOOKUP}
            result_map: root.customer_email = this.customer_email
        - mapping: 'root = this.merge({{ "high_value_order": true }})'
    """), feed=['{"customer_id":"c1"}', '{"customer_id":"c2"}'], expect=2))
    assert [doc(m) for m in got] == [
        {"customer_id": "c1", "customer_email": "c1@example.com", "high_value_order": True},
        {"customer_id": "c2", "customer_email": "c2@example.com", "high_value_order": True},
    ]


def test_processors_are_required() -> None:
    with pytest.raises(ConfigError, match='missing required field "processors"'):
        load(stream_config("- branch:\n    request_map: 'root = this'"))


def test_an_empty_processor_list_fails_the_build() -> None:
    from engine.errors import ComponentError

    with pytest.raises(ComponentError, match="requires at least one child processor"):
        build("- branch:\n    processors: []")


def test_bad_maps_are_located_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("""
            - branch:
                request_map: 'root = )'
                processors:
                  - mapping: 'root = 1'
                result_map: |
                  root.x = this
                  root.y = ]
        """))
    diags = [str(d) for d in info.value.diagnostics]
    # request_map is on line 6 (`        request_map: 'root = )'`), its `)` at column 30
    assert diags[0].startswith("test.yaml:6:30: request_map: invalid mapping: expected expression"), diags
    # the second line of result_map is line 11, `]` at column 20
    assert diags[1].startswith("test.yaml:11:20: result_map: invalid mapping: expected expression"), diags
