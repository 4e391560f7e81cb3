"""The `broker` output, end to end: patterns, retries, copies, batching, shutdown, config errors."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import ComponentError, ConfigError
from engine.runtime.manager import Manager
from tests.helpers import load

from ._support import NACK, Running, generate, names, python, raws, send, to_end


def broker(pattern: str, *children: str, extra: str = "") -> str:
    outs = "".join(f"      - {c}\n" for c in children)
    return f"output:\n  broker:\n    pattern: {pattern}\n{extra}    outputs:\n{outs}"


def test_fan_out_sends_every_message_to_every_output(run):
    pipes = run(to_end(generate(4) + broker("fan_out", "inproc: a", "inproc: b", "inproc: c"), ["a", "b", "c"]))
    for name in "abc":
        assert raws(pipes.got(name)) == names(4)


def test_fan_out_is_the_default_pattern(run):
    yaml = generate(2) + "output:\n  broker:\n    outputs: [ {inproc: a}, {inproc: b} ]\n"
    pipes = run(to_end(yaml, ["a", "b"]))
    assert raws(pipes.got("a")) == raws(pipes.got("b")) == names(2)


def test_fan_out_gives_each_output_its_own_copy(run):
    # b's processors change its messages in place; a must not see that.
    yaml = generate(3) + broker("fan_out", "inproc: a",
                                "{ inproc: b, processors: [ { python: " + python("tag", name="b") + " } ] }")
    pipes = run(to_end(yaml, ["a", "b"]))
    assert raws(pipes.got("a")) == names(3)
    assert all("tag" not in m.meta for m in pipes.got("a"))
    assert raws(pipes.got("b")) == [n + b"-b" for n in names(3)]
    assert [m.meta["tag"] for m in pipes.got("b")] == ["b"] * 3


def test_fan_out_retries_only_the_failing_output_and_delivers_each_message_once(run):
    # b nacks its first two deliveries; the broker retries b alone. Every message reaches each
    # output exactly once, and the input never has to redeliver (which would duplicate into a).
    yaml = generate(5) + broker("fan_out", "inproc: a", "inproc: b")
    pipes = run(to_end(yaml, ["a", "b"], fail={"b": 2}))
    assert pipes.nacked["b"] == 2
    assert raws(pipes.got("a")) == names(5)
    assert raws(pipes.got("b")) == names(5)


def test_fan_out_with_a_recovering_output_in_a_batch(run):
    yaml = generate(6, batch_size=3) + broker("fan_out", "inproc: a", "inproc: b")
    pipes = run(to_end(yaml, ["a", "b"], fail={"a": 1}))
    assert [raws(b) for b in pipes.batches["a"]] == [names(3), names(3, 4)]
    assert [raws(b) for b in pipes.batches["b"]] == [names(3), names(3, 4)]


def test_fan_out_fail_fast_nacks_and_the_input_redelivers(run):
    # No retries in the broker: the nack reaches the generate input, which re-sends the batch to
    # every output, so the output that had succeeded sees it twice (as Bento warns).
    yaml = generate(2) + broker("fan_out_fail_fast", "inproc: a", "inproc: b")
    pipes = run(to_end(yaml, ["a", "b"], fail={"b": 1}))
    assert sorted(raws(pipes.got("b"))) == names(2)  # the redelivered m1 may come after m2
    assert sorted(raws(pipes.got("a"))) == [b"m1", b"m1", b"m2"]


def test_fan_out_sequential_writes_one_output_after_the_other(run):
    yaml = generate(4) + broker("fan_out_sequential", "inproc: a", "inproc: b")
    pipes = run(to_end(yaml, ["a", "b"], fail={"a": 1}))
    assert raws(pipes.got("a")) == raws(pipes.got("b")) == names(4)
    for payload in names(4):
        # b is written to only once a confirmed the message
        assert pipes.events.index(("a", payload)) < pipes.events.index(("b", payload))


def test_fan_out_sequential_fail_fast_does_not_offer_failed_messages_to_later_outputs(run):
    async def main():
        running = Running("input:\n  inproc: in\n" + broker("fan_out_sequential_fail_fast", "inproc: a", "inproc: b"),
                          ["a", "b"], fail={"a": 1})
        with pytest.raises(RuntimeError, match=NACK):
            await send(running.hub, ["x"])
        await send(running.hub, ["y"])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == raws(pipes.got("b")) == [b"y"]


def test_round_robin_gives_each_batch_to_the_next_output(run):
    yaml = generate(6) + broker("round_robin", "inproc: a", "inproc: b", "inproc: c")
    pipes = run(to_end(yaml, ["a", "b", "c"]))
    assert raws(pipes.got("a")) == [b"m1", b"m4"]
    assert raws(pipes.got("b")) == [b"m2", b"m5"]
    assert raws(pipes.got("c")) == [b"m3", b"m6"]


def test_round_robin_failure_is_a_nack_and_the_redelivery_goes_elsewhere(run):
    yaml = generate(6) + broker("round_robin", "inproc: a", "inproc: b", "inproc: c")
    pipes = run(to_end(yaml, ["a", "b", "c"], fail={"a": 1}))
    everything = raws(pipes.got("a") + pipes.got("b") + pipes.got("c"))
    assert pipes.nacked["a"] == 1
    assert sorted(everything) == sorted(names(6))  # each message delivered once, none lost


def test_round_robin_keeps_outputs_busy_in_parallel(run):
    # While a holds its batch unacknowledged, b still gets the next one: the broker takes as many
    # writes at once as its outputs can (here 1 + 1), not one.
    async def main():
        release = asyncio.Event()
        running = Running(generate(4) + broker("round_robin", "inproc: a", "inproc: b"), ["a", "b"],
                          hold={"a": release})
        await running.pipes.wait_for(lambda: len(running.pipes.got("b")) == 1)
        assert raws(running.pipes.got("b")) == [b"m2"]
        release.set()
        assert await running.finished() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [b"m1", b"m3"]
    assert raws(pipes.got("b")) == [b"m2", b"m4"]


def test_greedy_sends_to_the_first_output_with_room(run):
    async def main():
        release = asyncio.Event()
        running = Running(generate(5) + broker("greedy", "inproc: a", "inproc: b"), ["a", "b"],
                          hold={"a": release})
        # a holds m1: everything else goes to b, which has room.
        await running.pipes.wait_for(lambda: len(running.pipes.got("b")) == 4)
        release.set()
        assert await running.finished() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [b"m1"]
    assert raws(pipes.got("b")) == names(4, 2)


def test_copies_spawns_each_output_several_times(run):
    yaml = generate(3) + broker("fan_out", "inproc: a", extra="    copies: 2\n")
    pipes = run(to_end(yaml, ["a"]))
    assert sorted(raws(pipes.got("a"))) == sorted(names(3) * 2)


def test_copies_with_round_robin_cycles_through_the_whole_list_per_copy(run):
    yaml = generate(4) + broker("round_robin", "inproc: a", "inproc: b", extra="    copies: 2\n")
    pipes = run(to_end(yaml, ["a", "b"]))
    assert raws(pipes.got("a")) == [b"m1", b"m3"]
    assert raws(pipes.got("b")) == [b"m2", b"m4"]


def test_broker_batching_batches_before_brokering(run):
    yaml = generate(4) + broker("fan_out", "inproc: a", "inproc: b", extra="    batching: { count: 2 }\n")
    pipes = run(to_end(yaml, ["a", "b"]))
    for name in "ab":
        assert [raws(b) for b in pipes.batches[name]] == [names(2), names(2, 3)]


def test_child_batching_is_flushed_when_the_input_ends(run):
    # a (behind a nested broker) batches by 3 with no period: the last, partial batch is sent when
    # the input is exhausted, not never.
    yaml = generate(4) + broker("fan_out", "{ broker: { outputs: [ inproc: a ], batching: { count: 3 } } }",
                                "inproc: b")
    pipes = run(to_end(yaml, ["a", "b"]))
    assert [raws(b) for b in pipes.batches["a"]] == [names(3), [b"m4"]]
    assert raws(pipes.got("b")) == names(4)


def test_a_retry_pending_at_shutdown_gives_up_and_the_batch_is_nacked(run):
    async def main():
        yaml = ("input:\n  inproc: in\n" + broker("fan_out", "inproc: a", "inproc: b")
                + "shutdown_timeout: 200ms\n")
        running = Running(yaml, ["a", "b"], fail={"b": 10**6})
        sending = asyncio.ensure_future(send(running.hub, ["x"]))
        await running.pipes.wait_for(lambda: running.pipes.got("a") and running.pipes.nacked["b"] >= 2)
        running.manager.stop()
        with pytest.raises(ConnectionAbortedError):
            await asyncio.wait_for(sending, 5)
        assert await running.finished() is False
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [b"x"]
    assert pipes.got("b") == []


def test_closing_the_broker_stops_a_retry_loop(run):
    async def main():
        running = Running("input:\n  inproc: in\n" + broker("fan_out", "inproc: a", "inproc: b"),
                          ["a", "b"], fail={"b": 10**6})
        sending = asyncio.ensure_future(send(running.hub, ["x"]))
        await running.pipes.wait_for(lambda: running.pipes.nacked["b"] >= 1)
        await running.output().close()
        with pytest.raises(ConnectionAbortedError, match="closed while retrying"):
            await asyncio.wait_for(sending, 5)
        await running.stop()

    run(main())


def test_unknown_pattern_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError) as info:
        load("input:\n  inproc: in\n" + broker("fan_outt", "inproc: a"))
    text = str(info.value)
    assert 'test.yaml:5:14: pattern: "fan_outt" is not one of' in text
    assert '(did you mean "fan_out"?)' in text


def test_outputs_are_required_and_typed():
    with pytest.raises(ConfigError, match='missing required field "outputs"'):
        load("input:\n  inproc: in\noutput:\n  broker:\n    pattern: fan_out\n")
    with pytest.raises(ConfigError, match='unknown output type "inprocc".*did you mean "inproc"'):
        load("input:\n  inproc: in\n" + broker("fan_out", "inprocc: a"))


@pytest.mark.parametrize("body, message", [
    ("    outputs: []\n", "a broker needs at least one output"),
    ("    copies: 0\n    outputs: [ {inproc: a} ]\n", "copies must be at least 1"),
])
def test_bad_values_are_reported_with_the_config_path(body, message):
    manager = Manager(load("input:\n  inproc: in\noutput:\n  broker:\n" + body))
    with pytest.raises(ComponentError, match=f"output broker at output.broker: cannot create: {message}"):
        manager.build()
