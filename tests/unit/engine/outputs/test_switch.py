"""The `switch` output, end to end: routing, continue, strict_mode, failing checks, retries, config errors."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.component import PartialDelivery
from engine.errors import ComponentError, ConfigError
from engine.runtime.manager import Manager
from tests.helpers import load, run_config

from ._support import NACK, Running, python, raws, send


def switch(*cases: str, extra: str = "") -> str:
    body = "".join(f"      - {c}\n" for c in cases)
    return f"input:\n  inproc: in\noutput:\n  switch:\n{extra}    cases:\n{body}"


def doc(type_: str, n: int = 0) -> bytes:
    return json.dumps({"type": type_, "n": n}).encode()


A = "{ check: 'this.type == \"a\"', output: { inproc: a } }"
B = "{ check: 'this.type == \"b\"', output: { inproc: b } }"
OTHER = "{ output: { inproc: other } }"


def test_messages_go_to_the_first_case_they_pass(run):
    async def main():
        running = Running(switch(A, B, OTHER), ["a", "b", "other"])
        for payload in (doc("a", 1), doc("b", 2), doc("c", 3), doc("a", 4)):
            await send(running.hub, [payload])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [doc("a", 1), doc("a", 4)]
    assert raws(pipes.got("b")) == [doc("b", 2)]
    assert raws(pipes.got("other")) == [doc("c", 3)]


def test_unmatched_messages_are_dropped_and_acked_without_strict_mode(run):
    async def main():
        running = Running(switch(A, B), ["a", "b"])
        await send(running.hub, [doc("c")])  # returns: acknowledged, though nothing got it
        await send(running.hub, [doc("b")])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert pipes.got("a") == []
    assert raws(pipes.got("b")) == [doc("b")]


def test_strict_mode_nacks_a_batch_with_an_unmatched_message_and_sends_none_of_it(run):
    async def main():
        running = Running(switch(A, B, extra="    strict_mode: true\n"), ["a", "b"])
        with pytest.raises(Exception, match="no switch output conditions were met"):
            await send(running.hub, [doc("a", 1), doc("c", 2)])
        await send(running.hub, [doc("a", 3)])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [doc("a", 3)]
    assert pipes.got("b") == []


def test_continue_also_tests_the_next_cases_and_each_output_gets_its_own_copy(run):
    first = ("{ check: 'this.n > 1', continue: true, output: { inproc: a, processors: [ { python: "
             + python("tag", name="a") + " } ] } }")
    async def main():
        running = Running(switch(first, B, OTHER), ["a", "b", "other"])
        await send(running.hub, [doc("b", 2)])  # passes 1 (continue) and 2
        await send(running.hub, [doc("c", 5)])  # passes 1 (continue), not 2, then 3
        await send(running.hub, [doc("b", 0)])  # passes only 2
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [doc("b", 2) + b"-a", doc("c", 5) + b"-a"]
    assert raws(pipes.got("b")) == [doc("b", 2), doc("b", 0)]  # untouched by a's processor
    assert all("tag" not in m.meta for m in pipes.got("b"))
    assert raws(pipes.got("other")) == [doc("c", 5)]


def test_a_batch_is_grouped_per_case(run):
    async def main():
        running = Running(switch(A, B), ["a", "b"])
        await send(running.hub, [doc("a", 1), doc("b", 2), doc("a", 3), doc("b", 4)])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert [raws(b) for b in pipes.batches["a"]] == [[doc("a", 1), doc("a", 3)]]
    assert [raws(b) for b in pipes.batches["b"]] == [[doc("b", 2), doc("b", 4)]]


def test_a_check_that_fails_counts_as_not_passed(run):
    # `this.type` on a payload that is not JSON is an error (logged); so is a check that is not a boolean.
    not_bool = "{ check: 'this.n', output: { inproc: b } }"
    async def main():
        running = Running(switch(A, not_bool, OTHER), ["a", "b", "other"])
        await send(running.hub, [b"not json"])
        await send(running.hub, [doc("x", 3)])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert pipes.got("a") == [] and pipes.got("b") == []
    assert raws(pipes.got("other")) == [b"not json", doc("x", 3)]
    assert all(m.error is None for m in pipes.got("other"))


def test_a_failing_case_nacks_only_its_messages(run):
    async def main():
        running = Running(switch(A, B), ["a", "b"], fail={"b": 1})
        batch = [doc("a", 1), doc("b", 2), doc("a", 3)]
        with pytest.raises(PartialDelivery) as info:
            await send(running.hub, batch)
        assert await running.stop() is True
        return running.pipes, info.value

    pipes, error = run(main())
    assert raws(error.failed) == [doc("b", 2)]  # the very message that was sent in, by identity below
    assert error.errors == [NACK]
    assert raws(pipes.got("a")) == [doc("a", 1), doc("a", 3)]
    assert pipes.got("b") == []


def test_retry_until_success_retries_the_failing_case_alone(run):
    async def main():
        running = Running(switch(A, B, extra="    retry_until_success: true\n"), ["a", "b"], fail={"b": 2})
        await send(running.hub, [doc("a", 1), doc("b", 2)])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert pipes.nacked["b"] == 2
    assert raws(pipes.got("a")) == [doc("a", 1)]
    assert raws(pipes.got("b")) == [doc("b", 2)]


def test_partial_failure_redelivers_only_the_failed_messages_from_the_input(run):
    # A generate input redelivers a nacked batch itself: only the message the failing case lost.
    yaml = ('input:\n  generate:\n    count: 4\n    batch_size: 4\n    interval: ""\n'
            "    mapping: 'root = {\"type\": if count(\"switch_redeliver\") % 2 == 0 { \"b\" } else { \"a\" }}'\n"
            "output:\n  switch:\n    cases:\n"
            f"      - {A}\n      - {B}\n")

    async def main():
        running = Running(yaml, ["a", "b"], fail={"b": 1})
        assert await running.finished() is True
        return running.pipes

    pipes = run(main())
    assert [len(b) for b in pipes.batches["a"]] == [2]
    assert [len(b) for b in pipes.batches["b"]] == [2]  # after one nack, re-sent once


def test_run_config_with_a_switch_to_out(run):
    yaml = ("input:\n  inproc: in\noutput:\n  switch:\n    cases:\n"
            "      - { check: 'this.type == \"x\"', output: { drop: {} } }\n"
            "      - { output: { inproc: out } }\n")
    got = run(run_config(yaml, feed=[doc("x"), doc("y"), doc("z")], expect=2))
    assert raws(got) == [doc("y"), doc("z")]


def test_a_switch_needs_two_cases():
    manager = Manager(load(switch(A)))
    with pytest.raises(ComponentError, match="output switch at output.switch: cannot create: "
                                             "a switch needs at least 2 cases, got 1"):
        manager.build()


def test_a_check_that_does_not_parse_is_a_located_config_error():
    with pytest.raises(ConfigError) as info:
        load(switch(A, "{ check: 'this.type ==', output: { inproc: b } }"))
    [problem] = info.value.diagnostics
    assert problem.message.startswith("check: invalid query: expected expression")
    assert problem.line > 1 and problem.column > 1


def test_config_errors_are_located():
    with pytest.raises(ConfigError) as info:
        load(switch("{ check: 'true', outptu: { inproc: a } }", B, extra="    strict: true\n"))
    text = str(info.value)
    assert 'unknown field "strict" in output.switch (did you mean "strict_mode"?)' in text
    assert 'unknown field "outptu" in output.switch.cases.0 (did you mean "output"?)' in text
    assert 'missing required field "output" in output.switch.cases.0' in text


def test_nothing_is_sent_twice_with_continue_and_retry_until_success(run):
    both = "{ check: 'true', continue: true, output: { inproc: a } }"
    async def main():
        running = Running(switch(both, "{ output: { inproc: b } }", extra="    retry_until_success: true\n"),
                          ["a", "b"], fail={"b": 1})
        await asyncio.wait_for(send(running.hub, [doc("a", 1)]), 5)
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [doc("a", 1)]
    assert raws(pipes.got("b")) == [doc("a", 1)]
