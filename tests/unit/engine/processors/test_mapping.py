"""The `mapping` and `mutation` processors: Bloblang applied to each message, with Bento's semantics."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap

import pytest

from engine import registry
from engine.bloblang import compile_mapping
from engine.errors import ConfigError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load, run_config

from .conftest import build, messages, process, stream_config


def docs(batch: list[Message]) -> list[object]:
    return [json.loads(m.raw) for m in batch]


# -- mapping --------------------------------------------------------------------------------


def test_mapping_builds_a_new_document_and_leaves_the_input_untouched(run) -> None:
    [proc] = build("- mapping: |\n    root.id = this.id\n    root.fans = this.fans.filter(f -> f.obsession > 0.5)\n")
    original = Message(b'{"id":"foo","description":"x","fans":[{"name":"bev","obsession":0.57},'
                       b'{"name":"grace","obsession":0.21}]}', {"k": "v"})
    raw_before = original.raw
    [out] = run(process([proc], [original]))
    assert out is not original
    assert json.loads(out.raw) == {"id": "foo", "fans": [{"name": "bev", "obsession": 0.57}]}
    assert out.meta == {"k": "v"}  # metadata is copied to the new message
    assert original.raw is raw_before and original.meta == {"k": "v"}


def test_mapping_can_set_and_delete_metadata_on_the_new_message_only(run) -> None:
    [proc] = build("- mapping: |\n    meta topic = this.t\n    meta drop = deleted()\n")
    original = Message(b'{"t":"orders"}', {"drop": "x", "keep": "y"})
    [out] = run(process([proc], [original]))
    assert out.meta == {"keep": "y", "topic": "orders"}
    assert original.meta == {"drop": "x", "keep": "y"}
    assert out.raw == b'{"t":"orders"}'  # root never assigned: the payload stays as it was


def test_a_string_root_becomes_the_raw_payload(run) -> None:
    [proc] = build("- mapping: 'root = content().uppercase()'")
    [out] = run(process([proc], messages("hello world")))
    assert out.raw == b"HELLO WORLD"


def test_root_deleted_drops_the_message_and_keeps_the_others(run) -> None:
    [proc] = build("- mapping: 'root = if this.n % 2 == 0 { deleted() }'")
    out = run(process([proc], messages('{"n":1}', '{"n":2}', '{"n":3}')))
    assert docs(out) == [{"n": 1}, {"n": 3}]


def test_batch_index_batch_size_and_count_see_the_batch(run) -> None:
    [proc] = build("- mapping: |\n    root.i = batch_index()\n    root.n = batch_size()\n"
                   "    root.c = count(\"test_mapping_batch_count\")\n    root.first = json(\"v\").from(0)\n")
    out = run(process([proc], messages('{"v":"a"}', '{"v":"b"}', '{"v":"c"}')))
    assert docs(out) == [{"i": 0, "n": 3, "c": 1, "first": "a"}, {"i": 1, "n": 3, "c": 2, "first": "a"},
                         {"i": 2, "n": 3, "c": 3, "first": "a"}]


def test_a_runtime_error_flags_the_message_keeps_it_unchanged_and_is_logged(run, logs) -> None:
    [proc] = build("- mapping: 'root.up = this.name.uppercase()'")
    batch = messages('{"name":"ada"}', '{"name":5}', "not json")
    raw = [m.raw for m in batch]
    out = run(process([proc], batch))
    assert len(out) == 3
    assert out[0].raw == b'{"up":"ADA"}' and out[0].error is None
    assert out[1] is batch[1] and out[1].raw is raw[1]
    assert out[1].error == "failed assignment (line 1): field `this.name`: expected string value, got number (5)"
    assert out[2] is batch[2] and out[2].raw == b"not json"
    assert out[2].error.startswith("failed assignment (line 1): unable to reference message as structured")
    errors = logs.messages(logging.ERROR)
    assert len(errors) == 2 and errors[0] == out[1].error


def test_an_errored_message_keeps_its_flag_through_a_successful_mapping(run) -> None:
    [proc] = build("- mapping: 'root.v = 1'")
    msg = Message(b"{}")
    msg.error = "earlier failure"
    [out] = run(process([proc], [msg]))
    assert out.raw == b'{"v":1}' and out.error == "earlier failure"


def test_the_error_is_visible_to_catch_and_the_stream_goes_on(run) -> None:
    got = run(run_config(stream_config("""
        - mapping: 'root = this.a.number()'
        - catch:
            - mapping: 'root = "caught: " + error()'
    """), feed=['{"a":"12"}', '{"a":"x"}', '{"a":"3"}'], expect=3))
    assert got[0].raw == b"12" and got[2].raw == b"3"
    assert got[1].raw.startswith(b"caught: failed assignment (line 1): ")
    assert all(m.error is None for m in got)


def test_a_deleted_message_is_acked_at_its_source_and_not_delivered(run) -> None:
    async def scenario() -> list[bytes]:
        manager = Manager(load(stream_config("- mapping: 'root = if this.drop { deleted() }'")))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        # hub.send returns only once the batch is acked: the dropped one must be acked too.
        await asyncio.wait_for(manager.hub.send("in", [Message(b'{"drop":true,"id":1}')]), 5)
        sender = asyncio.ensure_future(manager.hub.send("in", [Message(b'{"drop":false,"id":2}')]))
        got = await collect(manager.hub, "out", 1)
        await asyncio.wait_for(sender, 5)
        manager.stop()
        await running
        return [m.raw for m in got]

    assert run(scenario()) == [b'{"drop":false,"id":2}']


def test_bloblang_is_an_alias(run) -> None:
    [proc] = build("- bloblang: 'root = this.a + 1'")
    [out] = run(process([proc], messages('{"a":1}')))
    assert out.raw == b"2"


def test_an_empty_mapping_passes_messages_through(run) -> None:
    [proc] = build("- mapping: ''")
    msg = Message(b"anything")
    [out] = run(process([proc], [msg]))
    assert out.raw == b"anything"


# -- located parse errors -------------------------------------------------------------------

BLOCK = """\
input:
  inproc: in
pipeline:
  processors:
    - mapping: |
        root.a = this.a
        root.b = this.b +
    - mapping: 'root.c = this.c.foo('
    - mutation: "root.d = ]"
output:
  inproc: out
"""


def _diagnostics(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text)
    return [str(d) for d in info.value.diagnostics]


def test_a_parse_error_in_a_block_scalar_is_located_in_the_file() -> None:
    diags = _diagnostics(BLOCK)
    # line 7 is `        root.b = this.b +`: the error is just after the `+`, at column 26
    first = diags[0]
    assert first.startswith("test.yaml:7:26: mapping: invalid mapping: expected expression"), first
    assert "root.b = this.b +\n" in first and first.endswith("^")


def test_a_parse_error_in_a_one_line_quoted_mapping_is_located_in_the_file() -> None:
    diags = _diagnostics(BLOCK)
    # line 8: `    - mapping: 'root.c = this.c.foo('` — the quote is column 16, the text starts at 17
    assert diags[1].startswith("test.yaml:8:37: mapping: invalid mapping: expected expression"), diags[1]
    # line 9: `    - mutation: "root.d = ]"` — the `]` is at column 27
    assert diags[2].startswith("test.yaml:9:27: mutation: invalid mapping: expected expression"), diags[2]
    assert len(diags) == 3


def test_a_parse_error_on_a_later_line_of_a_block_scalar() -> None:
    text = stream_config("""
        - mapping: |
            root = this
            root.ok = true
            root.bad = this.(
    """)
    [diag] = _diagnostics(text)
    lines = text.splitlines()
    line, column = (int(x) for x in diag.split(":")[1:3])
    assert lines[line - 1].strip() == "root.bad = this.("
    assert column == len(lines[line - 1]) + 1  # just after the `(`: the input ended there


def test_the_factory_reports_a_bad_mapping_given_directly() -> None:
    from engine.components.processors.mapping import compile_or_raise

    with pytest.raises(ValueError, match=r"^mapping: line 1 char 8: expected expression"):
        compile_or_raise("root = ")


def test_a_missing_mapping_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expected a string"):
        load(stream_config("- mapping: {a: 1}"))


# -- mutation -------------------------------------------------------------------------------


def test_mutation_edits_the_message_in_place(run) -> None:
    [proc] = build("- mutation: |\n    root.description = deleted()\n    root.fans = this.fans.filter(f -> f.obsession > 0.5)\n")
    msg = Message(b'{"id":"foo","description":"x","fans":[{"name":"bev","obsession":0.57},'
                  b'{"name":"grace","obsession":0.21}]}', {"k": "v"})
    [out] = run(process([proc], [msg]))
    assert out is msg
    assert json.loads(msg.raw) == {"id": "foo", "fans": [{"name": "bev", "obsession": 0.57}]}
    assert msg.meta == {"k": "v"}


def test_in_a_mutation_this_sees_earlier_assignments(run) -> None:
    [proc] = build("- mutation: |\n    root.invitees = this.invitees.filter(i -> i.mood >= 0.5)\n"
                   "    root.rejected = this.invitees.filter(i -> i.mood < 0.5)\n")
    [out] = run(process([proc], messages('{"invitees":[{"n":"a","mood":0.9},{"n":"b","mood":0.1}]}')))
    assert json.loads(out.raw) == {"invitees": [{"n": "a", "mood": 0.9}], "rejected": []}
    # the same lines in a mapping see the input unchanged
    [proc] = build("- mapping: |\n    root.invitees = this.invitees.filter(i -> i.mood >= 0.5)\n"
                   "    root.rejected = this.invitees.filter(i -> i.mood < 0.5)\n")
    [out] = run(process([proc], messages('{"invitees":[{"n":"a","mood":0.9},{"n":"b","mood":0.1}]}')))
    assert json.loads(out.raw) == {"invitees": [{"n": "a", "mood": 0.9}], "rejected": [{"n": "b", "mood": 0.1}]}


def test_mutation_edits_metadata_in_place_and_can_delete(run) -> None:
    [proc] = build("- mutation: |\n    meta seen = true\n    root = if this.skip { deleted() }\n")
    keep, drop = Message(b'{"skip":false}', {"a": "1"}), Message(b'{"skip":true}')
    out = run(process([proc], [keep, drop]))
    assert out == [keep] and keep.meta == {"a": "1", "seen": True} and keep.raw == b'{"skip":false}'


def test_mutation_of_a_payload_that_is_not_json_starts_a_new_document(run) -> None:
    [proc] = build("- mutation: 'root.wrapped = content().string()'")
    [out] = run(process([proc], messages("plain text")))
    assert json.loads(out.raw) == {"wrapped": "plain text"}


def test_a_failing_mutation_flags_the_message_and_keeps_earlier_assignments(run, logs) -> None:
    [proc] = build("- mutation: |\n    root.a = 1\n    root.b = this.missing.uppercase()\n    root.c = 3\n")
    msg = Message(b'{"x":0}')
    [out] = run(process([proc], [msg]))
    assert out is msg
    assert msg.error.startswith("failed assignment (line 2): ")
    assert json.loads(msg.raw) == {"a": 1, "x": 0}  # as in Bento: what was assigned before the failure stays
    assert logs.messages(logging.ERROR) == [msg.error]


# -- specs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mapping", "mutation", "branch"])
def test_specs_are_documented_and_their_examples_compile(name: str) -> None:
    spec = registry.get("processor", name)
    assert spec is not None and spec.summary and len(spec.description) > 200 and spec.examples
    fields = [spec.config, *spec.config.children]
    blobl = [f for f in fields if f.bloblang == "mapping"]
    assert blobl and all(f.description and f.examples for f in blobl)
    for field in blobl:
        for example in field.examples:
            compile_mapping(example)
    for example in spec.examples:  # each example is a loadable pipeline (with stand-ins for other components)
        assert "pipeline:" in example


def test_the_documented_example_of_the_mapping_spec_runs(run) -> None:
    spec = registry.get("processor", "mapping")
    example = textwrap.dedent(spec.examples[0])
    body = example[example.index("pipeline:"):]
    got = run(run_config("input:\n  inproc: in\n" + body + "\noutput:\n  inproc: out\n",
                         feed=['{"id":"foo","fans":[{"name":"bev","obsession":0.57},'
                               '{"name":"grace","obsession":0.21}]}'], expect=1))
    assert json.loads(got[0].raw) == {"id": "foo", "fans": [{"name": "bev", "obsession": 0.57}]}
