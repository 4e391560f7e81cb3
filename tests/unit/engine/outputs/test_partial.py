"""The PartialDelivery contract, and what the runtime's redelivery does with it."""

from __future__ import annotations

import logging

import pytest

from engine.component import EndOfInput, Input, PartialDelivery
from engine.message import Message
from engine.runtime.inputs import AutoRetryNacks


def msgs(*payloads: str) -> list[Message]:
    return [Message(p.encode()) for p in payloads]


def test_locate_matches_failed_messages_by_identity():
    sent = msgs("a", "b", "c")
    error = PartialDelivery([sent[2], sent[0]], ["late", "early"], total=3)
    assert error.locate(sent) == {2: "late", 0: "early"}
    assert error.locate(msgs("a", "b", "c")) is None  # equal payloads are not the same messages
    assert error.locate(sent[:2]) is None


def test_text():
    one = msgs("a")
    assert str(PartialDelivery(one, "boom")) == "boom"
    assert str(PartialDelivery(one, "boom", total=3)) == "1 of 3 message(s) not delivered: boom"
    assert str(PartialDelivery(msgs("a", "b"), ["x", "y"], total=5)) == \
        "2 of 5 message(s) not delivered: x (and 1 other error(s))"
    with pytest.raises(ValueError):
        PartialDelivery(msgs("a", "b"), ["only one"])


class OneBatch(Input):
    """Gives one batch, then ends; records how it was settled."""

    def __init__(self, batch: list[Message]) -> None:
        self.batch = batch
        self.given = False
        self.settled: list[BaseException | None] = []
        self.log = logging.getLogger("test")

    async def read(self):
        if self.given:
            raise EndOfInput
        self.given = True

        async def ack(error):
            self.settled.append(error)

        return self.batch, ack


async def read_all(wrapped: AutoRetryNacks, settle) -> list[list[bytes]]:
    """Read until the end, settling each batch with settle(batch, round)."""
    seen = []
    rounds = 0
    while True:
        try:
            batch, ack = await wrapped.read()
        except EndOfInput:
            return seen
        if not batch:
            await ack(None)
            continue
        seen.append([m.raw for m in batch])
        await ack(settle(batch, rounds))
        rounds += 1


def wrap(inner: Input) -> AutoRetryNacks:
    wrapped = AutoRetryNacks(inner)
    wrapped.log = inner.log
    return wrapped


def test_a_partial_delivery_is_redelivered_alone(run):
    inner = OneBatch(msgs("a", "b", "c", "d"))
    wrapped = wrap(inner)

    def settle(batch, n):
        if n == 0:
            batch[1].set_raw(b"changed in place by a processor")  # redelivery sends the originals
            return PartialDelivery([batch[1], batch[3]], "failed", total=4)
        return None

    seen = run(read_all(wrapped, settle))
    assert seen == [[b"a", b"b", b"c", b"d"], [b"b", b"d"]]
    assert inner.settled == [None]  # the input's own ack, once, when everything was delivered


def test_a_partial_delivery_of_unknown_messages_redelivers_the_whole_batch(run):
    # A processor replaced the messages: the failed ones cannot be told apart, so all go again.
    inner = OneBatch(msgs("a", "b"))
    wrapped = wrap(inner)

    def settle(batch, n):
        return PartialDelivery(msgs("b"), "failed", total=2) if n == 0 else None

    seen = run(read_all(wrapped, settle))
    assert seen == [[b"a", b"b"], [b"a", b"b"]]
    assert inner.settled == [None]


def test_a_partial_delivery_of_nothing_is_a_delivery(run):
    inner = OneBatch(msgs("a"))
    wrapped = wrap(inner)
    seen = run(read_all(wrapped, lambda batch, n: PartialDelivery([], [], total=1)))
    assert seen == [[b"a"]]
    assert inner.settled == [None]
