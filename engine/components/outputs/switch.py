"""The `switch` output: routes each message to the outputs of the cases whose check it passes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import spec as s
from ...component import Output
from ...message import Batch, Message
from ...registry import register
from ._delivery import Failed, Retrier, capacity, raise_failed, submit

if TYPE_CHECKING:
    from ...runtime.outputs import OutputRunner


class NoCaseMatched(Exception):
    """strict_mode: a message of the batch passed no case."""


@dataclass
class Case:
    check: Any  # a compiled Bloblang query, or None: always passes
    output: "OutputRunner"
    carry_on: bool  # Bento's `continue`
    index: int

    def passes(self, msg: Message, batch: Batch, position: int) -> bool:
        if self.check is None:
            return True
        result = self.check.query(msg, batch, position)
        if not isinstance(result, bool):
            raise TypeError(f"expected a boolean from the check, got {_kind(result)}")
        return result


class SwitchOutput(Output):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.strict = conf["strict_mode"]
        self.retry = conf["retry_until_success"]
        cases_conf = conf["cases"]
        if len(cases_conf) < 2:
            raise ValueError(f"a switch needs at least 2 cases, got {len(cases_conf)}")
        self.cases: list[Case] = []
        for i, case in enumerate(cases_conf):
            check = None
            if case["check"].strip():
                from ...bloblang import compile_query  # the language is loaded only when used

                try:
                    check = compile_query(case["check"])
                except Exception as exc:  # noqa: BLE001 - report which case, with the parser's message
                    raise ValueError(f"cases.{i}.check: {exc}") from exc
            self.cases.append(Case(check, ctx.build_output(case["output"]), case["continue"], i))
        self._retrier: Retrier | None = None

    @property
    def max_in_flight(self) -> int:
        return sum(capacity(case.output) for case in self.cases)

    @property
    def retrier(self) -> Retrier:
        if self._retrier is None:
            self._retrier = Retrier(self.where, self.log)
        return self._retrier

    async def connect(self) -> None:
        for case in self.cases:
            await case.output.connect()

    async def flush_children(self) -> None:
        for case in self.cases:
            await case.output.flush()

    def stopping(self) -> None:
        for case in self.cases:
            case.output.stopping()

    async def close(self) -> None:
        self.retrier.closing.set()
        for case in self.cases:
            await case.output.close(0)

    def route(self, batch: Batch) -> list[list[int]]:
        """The positions of BATCH each case gets."""
        groups: list[list[int]] = [[] for _ in self.cases]
        for position, msg in enumerate(batch):
            routed = False
            for case in self.cases:
                try:
                    passed = case.passes(msg, batch, position)
                except Exception as exc:  # noqa: BLE001 - Bento: a failing check does not match
                    self.log.error("%s: cannot test case %d: %s", self.where, case.index, exc)
                    passed = False
                if passed:
                    routed = True
                    groups[case.index].append(position)
                    if not case.carry_on:
                        break
            if not routed and self.strict:
                raise NoCaseMatched("no switch output conditions were met by message "
                                    f"{position} of the batch (strict_mode)")
        return groups

    async def write(self, batch: Batch) -> None:
        groups = self.route(batch)
        handed = []
        for case, positions in zip(self.cases, groups):
            if positions:
                # Copies: a message routed to two cases is two independent messages.
                sent = [batch[p].copy() for p in positions]
                handed.append((case, positions, sent, await submit(case.output, sent)))
        results = await asyncio.gather(*(
            self.retrier.settle(case.output, batch, positions, sent, outcome, retry=self.retry)
            for case, positions, sent, outcome in handed))
        failed: Failed = {}
        first: BaseException | None = None
        for case_failed, error in results:
            failed.update(case_failed)
            first = first or error
        if first is not None:
            raise_failed(batch, failed, first)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "number", float: "number", str: "string", bytes: "bytes",
            list: "array", dict: "object"}.get(type(value), type(value).__name__)


CASE = s.obj(
    "cases", "A list of switch cases, outlining outputs that can be routed to.",
    s.string("check", "A Bloblang query that should return a boolean value indicating whether a message "
             "should be routed to the case output. If left empty the case always passes. A check that "
             "fails (or returns something other than a boolean) counts as not passed, and is logged.",
             "", examples=('this.type == "foo"', 'this.contents.urls.contains("https://bento.dev/")'), bloblang="query"),
    s.Field("output", "output", "An output for messages that pass the check to be routed to."),
    s.boolean("continue", "Indicates whether, if this case passes for a message, the next case should "
              "also be tested.", False, advanced=True),
    kind="list",
)

register(s.ComponentSpec(
    name="switch", kind="output", category="utility",
    summary="Routes messages to different outputs based on their contents.",
    description=(
        "Each message is tested against the cases in order and goes to the output of the first case "
        "it passes (and of the following ones too while the passed case has `continue: true`). The "
        "messages of a batch are grouped per case, each group written to its output as one batch "
        "(a copy of each message per case); the batch is delivered once every group is.\n\n"
        "Messages that pass no case are dropped (acknowledged), unless `strict_mode` is true: then "
        "the whole batch fails (nack) and nothing of it is sent.\n\n"
        "When an output fails and `retry_until_success` is false, the messages it failed are nacked "
        "(the rest of the batch counts as delivered); with it true the output is retried with backoff "
        "until it succeeds, which avoids duplicates for messages that went to several outputs."),
    config=s.obj(
        "switch", "",
        s.boolean("retry_until_success", "If a selected output fails to send a message this field determines "
                  "whether it is reattempted indefinitely. If set to false the error is instead propagated "
                  "back to the input level.", False),
        s.boolean("strict_mode", "This field determines whether an error should be reported if no condition "
                  "is met. If set to true, an error is propagated back to the input level. The default "
                  "behavior is false, which will drop the message.", False, advanced=True),
        CASE,
    ),
    factory=lambda conf, ctx: SwitchOutput(conf, ctx),
    examples=(
        "output:\n  switch:\n    cases:\n      - check: this.type == \"foo\"\n        output:\n"
        "          inproc: foos\n      - output:\n          inproc: everything_else",
    ),
))
