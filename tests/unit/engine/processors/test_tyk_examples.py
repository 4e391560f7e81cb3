"""The `mapping` blocks of Tyk's Streams documentation, run through our processors.

Sources (Tyk docs, TykTechnologies/tyk-docs):
- "Tyk Streams End-to-End Example" (api-management/streams-end-to-end-example): streams `Worker`,
  `in` and `out` of streams-demo.yaml;
- "Tyk Streams Configuration" (api-management/stream-config): the pipeline example;
- "Tyk Streams – Manage Event-Driven APIs" (api-management/event-driven-apis), Use Cases: the
  Bloblang transformation, Complex Event Processing, Legacy Modernization and Async API
  Orchestration examples;
- the sync_response output / Synchronous Responses guide.

`$tyk_context.<name>` placeholders are rendered by the gateway per request before the stream is
built, so each test substitutes them the way the gateway does (here `request_data_user` is the
`user` query parameter, e.g. `?user=alice`). Components we stand in for (kafka, http) are replaced
by inproc pipes and by a mapping that plays the HTTP service's answer.
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid

from engine.message import Message
from tests.helpers import run_config

from .conftest import build, messages, process


def render_tyk_context(text: str, context: dict[str, str]) -> str:
    """What the gateway does to a stream config: `$tyk_context.NAME` → the request's value (names
    the request does not have are left as written; the one in the doc's comment is such a name)."""
    return re.sub(r"\$tyk_context\.([A-Za-z0-9_]+)", lambda m: context.get(m.group(1), m.group(0)), text)


def stream(processors_yaml: str) -> str:
    body = textwrap.indent(textwrap.dedent(processors_yaml).strip("\n"), "    ")
    return f"input:\n  inproc: in\npipeline:\n  processors:\n{body}\noutput:\n  inproc: out\n"


def docs(batch: list[Message]) -> list[object]:
    return [json.loads(m.raw) for m in batch]


# -- Tyk Streams End-to-End Example (streams-demo.yaml) --------------------------------------

WORKER = """
- mapping: |
    root = this.merge({ "result": "bar" })
"""

IN = """
- mapping: |
    root = this
    root.user_id = "$tyk_context.request_data_user"  # or $tyk_context.jwt.claims.sub
    root.job_id = uuid_v4()
"""

OUT = """
- mapping: |
    root = if this.user_id != "$tyk_context.request_data_user" {
      deleted()
    }
"""


def test_end_to_end_in_stream_stamps_the_user_and_a_job_id(run) -> None:
    config = stream(render_tyk_context(IN, {"request_data_user": "alice"}))
    got = run(run_config(config, feed=['{"message":"hello world"}', '{"message":"again"}'], expect=2))
    first, second = docs(got)
    assert first["message"] == "hello world" and first["user_id"] == "alice"
    assert second["message"] == "again" and second["user_id"] == "alice"
    assert uuid.UUID(first["job_id"]).version == 4 and first["job_id"] != second["job_id"]


def test_end_to_end_worker_adds_the_result(run) -> None:
    got = run(run_config(stream(WORKER), feed=['{"message":"hello world","user_id":"alice","job_id":"j1"}'],
                         expect=1))
    assert docs(got) == [{"message": "hello world", "user_id": "alice", "job_id": "j1", "result": "bar"}]


def test_end_to_end_out_stream_delivers_only_the_callers_events(run) -> None:
    config = stream(render_tyk_context(OUT, {"request_data_user": "alice"}))
    feed = ['{"user_id":"bob","job_id":"1","result":"bar"}', '{"user_id":"alice","job_id":"2","result":"bar"}',
            '{"user_id":"carol","job_id":"3","result":"bar"}', '{"user_id":"alice","job_id":"4","result":"bar"}']
    got = run(run_config(config, feed=feed, expect=2))
    # alice's events pass unchanged (the `if` has no else: root is left as it was); the others are dropped
    assert [m.raw for m in got] == [feed[1].encode(), feed[3].encode()]


def test_end_to_end_chain_in_worker_out(run) -> None:
    """The three mappings in a row, as a message travels in → jobs → Worker → completed → out."""
    rendered = render_tyk_context(IN + WORKER + OUT, {"request_data_user": "alice"})
    got = run(run_config(stream(rendered), feed=['{"message":"hello world"}'], expect=1))
    [result] = docs(got)
    assert result["message"] == "hello world" and result["user_id"] == "alice" and result["result"] == "bar"
    other = render_tyk_context(OUT, {"request_data_user": "bob"})  # another user's `out` stream
    [proc] = build(other)
    assert run(process([proc], [Message(got[0].raw)])) == []


# -- Tyk Streams Configuration: the pipeline example ------------------------------------------


def test_stream_config_pipeline_example(run) -> None:
    [proc] = build("""
        - mapping: |
            root = this
            root.foo = this.bar.uppercase()
    """)
    [out] = run(process([proc], messages('{"bar":"hello","n":1}')))
    assert json.loads(out.raw) == {"bar": "hello", "foo": "HELLO", "n": 1}


# -- sync_response: the response mapping ---------------------------------------------------------


def test_sync_response_example_mapping(run) -> None:
    [proc] = build("- mapping: 'root = content().uppercase()'")
    out = run(process([proc], messages("hello world", "foo bar")))
    assert [m.raw for m in out] == [b"HELLO WORLD", b"FOO BAR"]


# -- Use cases ----------------------------------------------------------------------------------


def test_use_case_transformation_with_the_bloblang_processor(run) -> None:
    [proc] = build("""
        - bloblang: |
            root.name = "jim"
    """)
    [out] = run(process([proc], messages('{"name":"bob","age":3}')))
    assert json.loads(out.raw) == {"name": "jim"}


def test_use_case_complex_event_processing(run) -> None:
    """High-value orders only, enriched through a branch (the HTTP call played by a mapping), flagged."""
    pipeline = """
        - mapping: |
            root = if this.order_value > 1000 {
              this
            } else {
              deleted()
            }
        - branch:
            processors:
              - mapping: 'root.customer_email = this.customer_id + "@customers.example"'
            request_map: |-
              root = {
                "customer_id": this.customer_id
              }
            result_map: root.customer_email = this.customer_email
        - mapping: |
            root = this.merge({ "high_value_order": true })
    """
    feed = ['{"order_id":1,"customer_id":"c1","order_value":1500}', '{"order_id":2,"customer_id":"c2","order_value":20}',
            '{"order_id":3,"customer_id":"c3","order_value":1001}']
    got = run(run_config(stream(pipeline), feed=feed, expect=2))
    assert docs(got) == [
        {"order_id": 1, "customer_id": "c1", "order_value": 1500, "customer_email": "c1@customers.example",
         "high_value_order": True},
        {"order_id": 3, "customer_id": "c3", "order_value": 1001, "customer_email": "c3@customers.example",
         "high_value_order": True},
    ]


def test_use_case_legacy_modernization(run) -> None:
    [proc] = build("""
        - mapping: |
            root.order_id = this.id
            root.total = this.total
            root.timestamp = this.timestamp
    """)
    [out] = run(process([proc], messages('{"id":"o-1","total":99.5,"timestamp":"2024-01-01T00:00:00Z","internal":"x"}')))
    assert json.loads(out.raw) == {"order_id": "o-1", "total": 99.5, "timestamp": "2024-01-01T00:00:00Z"}


def test_use_case_async_api_orchestration(run) -> None:
    """The per-topic mappings and branches, then the final filter on the API responses.

    The doc's `switch` on `meta("kafka_topic")` is written as an output-style `cases:` block; the
    switch processor takes the list of cases directly, so the same checks are written that way."""
    pipeline = """
        - switch:
            - check: 'meta("kafka_topic") == "stream1"'
              processors:
                - mapping: |
                    root.type = "event_from_stream1"
                    root.details = this
                - branch:
                    processors:
                      - mapping: 'root = {"status": if this.details.ok { "ok" } else { "failed" }}'
                    result_map: 'root.api1_response = this'
            - check: 'meta("kafka_topic") == "stream2"'
              processors:
                - mapping: |
                    root.type = "event_from_stream2"
                    root.details = this
                - branch:
                    processors:
                      - mapping: 'root = {"status": "ok", "analysed": true}'
                    result_map: 'root.api2_response = this'
        - mapping: 'root = if this.type == "event_from_stream1" && this.api1_response.status == "ok" { this } else if this.type == "event_from_stream2" && this.api2_response.status == "ok" { this } else { deleted() }'
    """
    feed = [Message(b'{"ok":true,"n":1}', {"kafka_topic": "stream1"}),
            Message(b'{"ok":false,"n":2}', {"kafka_topic": "stream1"}),
            Message(b'{"n":3}', {"kafka_topic": "stream2"})]
    got = run(run_config(stream(pipeline), feed=feed, expect=2))
    assert docs(got) == [
        {"type": "event_from_stream1", "details": {"ok": True, "n": 1}, "api1_response": {"status": "ok"}},
        {"type": "event_from_stream2", "details": {"n": 3}, "api2_response": {"status": "ok", "analysed": True}},
    ]
