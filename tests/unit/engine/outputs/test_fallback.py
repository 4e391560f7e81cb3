"""The `fallback` and `reject_errored` outputs, end to end, alone and as a dead-letter queue."""

from __future__ import annotations

import pytest

from engine.component import PartialDelivery
from engine.errors import ComponentError, ConfigError
from engine.runtime.manager import Manager
from tests.helpers import load

from ._support import NACK, Running, generate, names, python, raws, send, to_end

DLQ = ("input:\n  inproc: in\npipeline:\n  processors:\n    - python: " + python("flag_bad") + "\n"
       "output:\n  fallback:\n    - reject_errored:\n        inproc: out\n    - inproc: dlq\n")


def fallback(*tiers: str, source: str = "input:\n  inproc: in\n") -> str:
    return source + "output:\n  fallback:\n" + "".join(f"    - {t}\n" for t in tiers)


# -- fallback ---------------------------------------------------------------------------------
def test_the_next_output_gets_what_the_first_failed_with_fallback_error(run):
    async def main():
        running = Running(fallback("inproc: a", "inproc: b"), ["a", "b"], fail={"a": 1})
        await send(running.hub, ["x", "y"])
        await send(running.hub, ["z"])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [b"z"]
    assert raws(pipes.got("b")) == [b"x", b"y"]
    assert [m.meta["fallback_error"] for m in pipes.got("b")] == [NACK, NACK]
    assert "fallback_error" not in pipes.got("a")[0].meta


def test_nothing_goes_on_when_the_first_output_delivers(run):
    pipes = run(to_end(generate(3) + "output:\n  fallback: [ {inproc: a}, {inproc: b} ]\n", ["a", "b"]))
    assert raws(pipes.got("a")) == names(3)
    assert pipes.got("b") == []


def test_when_every_output_fails_the_batch_is_nacked_with_the_last_error(run):
    async def main():
        running = Running(fallback("inproc: a", "inproc: b"), ["a", "b"], fail={"a": 1, "b": 1})
        with pytest.raises(RuntimeError, match=NACK):
            await send(running.hub, ["x"])
        await send(running.hub, ["y"])  # both work again
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("a")) == [b"y"]
    assert pipes.got("b") == []


def test_each_output_gets_the_messages_as_they_reached_the_fallback(run):
    # a's processors change its copies before a fails: b gets the originals.
    tier_a = "{ inproc: a, processors: [ { python: " + python("tag", name="a") + " } ] }"
    async def main():
        running = Running(fallback(tier_a, "inproc: b"), ["a", "b"], fail={"a": 1})
        await send(running.hub, ["x"])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("b")) == [b"x"]
    assert "tag" not in pipes.got("b")[0].meta


def test_a_fallback_with_a_nacked_input_redelivers_through_every_tier(run):
    pipes = run(to_end(generate(2) + "output:\n  fallback: [ {inproc: a}, {inproc: b} ]\n",
                       ["a", "b"], fail={"a": 1, "b": 1}))
    # m1 failed at a and b, was redelivered by the input and then delivered by a
    assert sorted(raws(pipes.got("a"))) == names(2)
    assert pipes.got("b") == []


def test_fallback_needs_an_output():
    manager = Manager(load("input:\n  inproc: in\noutput:\n  fallback: []\n"))
    with pytest.raises(ComponentError, match="output fallback at output.fallback: cannot create: "
                                             "fallback needs at least one output"):
        manager.build()


def test_fallback_is_a_list_of_outputs():
    with pytest.raises(ConfigError, match="fallback: expected a list of outputs, got an object"):
        load("input:\n  inproc: in\noutput:\n  fallback: { inproc: a }\n")


# -- reject_errored ---------------------------------------------------------------------------
def test_messages_without_errors_pass_through_unchanged(run):
    pipes = run(to_end(generate(3, batch_size=3) + "output:\n  reject_errored:\n    inproc: out\n", ["out"]))
    assert [raws(b) for b in pipes.batches["out"]] == [names(3)]


def test_a_batch_of_errored_messages_is_rejected(run):
    yaml = ("input:\n  inproc: in\npipeline:\n  processors:\n    - python: " + python("flag_bad") + "\n"
            "output:\n  reject_errored:\n    inproc: out\n")

    async def main():
        running = Running(yaml, ["out"])
        with pytest.raises(PartialDelivery) as info:
            await send(running.hub, ["bad1"])
        await send(running.hub, ["good"])
        assert await running.stop() is True
        return running.pipes, info.value

    pipes, error = run(main())
    assert str(error) == "rejecting due to failed processing: bad1 is bad"
    assert raws(pipes.got("out")) == [b"good"]


def test_a_mixed_batch_delivers_the_good_messages_and_fails_the_errored_ones(run):
    yaml = ("input:\n  inproc: in\npipeline:\n  processors:\n    - python: " + python("flag_bad") + "\n"
            "output:\n  reject_errored:\n    inproc: out\n")

    async def main():
        running = Running(yaml, ["out"])
        batch = ["ok1", "bad1", "ok2", "bad2"]
        with pytest.raises(PartialDelivery) as info:
            await send(running.hub, batch)
        assert await running.stop() is True
        return running.pipes, info.value

    pipes, error = run(main())
    assert [raws(b) for b in pipes.batches["out"]] == [[b"ok1", b"ok2"]]
    assert raws(error.failed) == [b"bad1", b"bad2"]
    assert error.errors == ["rejecting due to failed processing: bad1 is bad",
                            "rejecting due to failed processing: bad2 is bad"]
    assert error.total == 4
    assert str(error).startswith("2 of 4 message(s) not delivered: rejecting due to failed processing")


def test_when_the_child_fails_its_messages_are_nacked_with_the_rejected_ones(run):
    yaml = ("input:\n  inproc: in\npipeline:\n  processors:\n    - python: " + python("flag_bad") + "\n"
            "output:\n  reject_errored:\n    inproc: out\n")

    async def main():
        running = Running(yaml, ["out"], fail={"out": 1})
        with pytest.raises(PartialDelivery) as info:
            await send(running.hub, ["ok1", "bad1"])
        assert await running.stop() is True
        return info.value

    error = run(main())
    assert raws(error.failed) == [b"ok1", b"bad1"]
    assert error.errors == [NACK, "rejecting due to failed processing: bad1 is bad"]


def test_the_input_redelivers_only_the_rejected_messages(run):
    # The processor errors m2 and m4 the first time only. The good messages of the batch are
    # delivered once; the redelivery carries just m2 and m4, which then pass.
    yaml = (generate(4, batch_size=4) + "pipeline:\n  processors:\n    - python: "
            + python("flag_once", key="redeliver", bad=["m2", "m4"]) + "\n"
            "output:\n  reject_errored:\n    inproc: out\n")
    pipes = run(to_end(yaml, ["out"]))
    assert [raws(b) for b in pipes.batches["out"]] == [[b"m1", b"m3"], [b"m2", b"m4"]]


# -- the dead-letter pattern ------------------------------------------------------------------
def test_errored_messages_go_to_the_dead_letter_output(run):
    async def main():
        running = Running(DLQ, ["out", "dlq"])
        await send(running.hub, ["ok1", "bad1", "ok2", "bad2"])  # delivered: nothing nacked
        await send(running.hub, ["bad3"])
        await send(running.hub, ["ok3"])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert [raws(b) for b in pipes.batches["out"]] == [[b"ok1", b"ok2"], [b"ok3"]]
    assert [raws(b) for b in pipes.batches["dlq"]] == [[b"bad1", b"bad2"], [b"bad3"]]
    for msg in pipes.got("dlq"):
        name = msg.raw.decode()
        assert msg.meta["fallback_error"] == f"rejecting due to failed processing: {name} is bad"
        assert msg.error == f"{name} is bad"  # still flagged
    assert all(m.error is None and "fallback_error" not in m.meta for m in pipes.got("out"))


def test_a_failing_dead_letter_output_passes_on_to_a_third_output(run):
    yaml = DLQ + "    - inproc: last\n"

    async def main():
        running = Running(yaml, ["out", "dlq", "last"], fail={"dlq": 1})
        await send(running.hub, ["ok1", "bad1"])
        assert await running.stop() is True
        return running.pipes

    pipes = run(main())
    assert raws(pipes.got("out")) == [b"ok1"]
    assert pipes.got("dlq") == []
    assert raws(pipes.got("last")) == [b"bad1"]
    assert pipes.got("last")[0].meta["fallback_error"] == NACK


def test_dead_letters_that_cannot_be_delivered_are_nacked_alone(run):
    async def main():
        running = Running(DLQ, ["out", "dlq"], fail={"dlq": 1})
        batch = ["ok1", "bad1", "ok2"]
        with pytest.raises(PartialDelivery) as info:
            await send(running.hub, batch)
        assert await running.stop() is True
        return running.pipes, info.value

    pipes, error = run(main())
    assert raws(pipes.got("out")) == [b"ok1", b"ok2"]
    assert raws(error.failed) == [b"bad1"]
    assert error.errors == [NACK]
