"""The `switch` processor: each message goes through the processors of the first case whose check passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import spec as s
from ...bloblang import BloblangError, compile_query
from ...component import Processor, mark_error
from ...message import Batch, Message
from ...registry import register
from ...runtime.processors import apply_processors
from .catch import close_all


@dataclass
class Case:
    check: Any  # a compiled query, or None: always passes
    processors: list[Processor]
    fallthrough: bool


def _trace(before: list[tuple[int, Message]], after: Batch) -> list[tuple[int, Message]]:
    """Give each message out of a case the original position of the message it came from.

    A message passed on as the same object keeps its position; when a case returned as many messages
    as it was given (a 1:1 processor that builds new messages), they correspond by position; any
    other new message (a split) follows the message before it.
    """
    by_id = {id(m): pos for pos, m in before}
    same_len = len(before) == len(after)
    traced: list[tuple[int, Message]] = []
    last = before[0][0] if before else 0
    for i, msg in enumerate(after):
        pos = by_id.get(id(msg))
        if pos is None:
            pos = before[i][0] if same_len else last
        traced.append((pos, msg))
        last = pos
    return traced


class SwitchProcessor(Processor):
    def __init__(self, cases: list[Case]) -> None:
        self.cases = cases

    async def process_batch(self, batch: Batch) -> Batch:
        result: list[tuple[int, Message]] = []
        remaining: list[tuple[int, Message]] = list(enumerate(batch))
        carry: list[tuple[int, Message]] = []
        for number, case in enumerate(self.cases):
            # Messages that fell through from the previous case enter this one without a check.
            passed, failed = carry, []
            carry = []
            test_batch = [m for _, m in remaining]
            for index, (pos, msg) in enumerate(remaining):
                if case.check is None:
                    ok = True
                else:
                    try:
                        value = case.check.query(msg, test_batch, index)
                        if not isinstance(value, bool):
                            raise ValueError(f"expected a boolean from the check, got {_type_name(value)}")
                        ok = value
                    except Exception as exc:  # noqa: BLE001 - a failing check flags the message
                        self.log.error("failed to test case %d: %s", number, exc)
                        mark_error(msg, self, f"switch case {number} check: {exc}")
                        result.append((pos, msg))  # not tested against any other case
                        continue
                (passed if ok else failed).append((pos, msg))
            remaining = failed
            if passed:
                out = await apply_processors(case.processors, [m for _, m in passed])
                traced = _trace(passed, out)
                if case.fallthrough:
                    carry = traced
                else:
                    result.extend(traced)
        result.extend(carry)  # fell through from the last case
        result.extend(remaining)  # matched no case: unchanged
        result.sort(key=lambda item: item[0])  # stable: a split keeps its parts in order
        return [msg for _, msg in result]

    async def close(self) -> None:
        for case in self.cases:
            await close_all(case.processors)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "string", int: "number", float: "number", dict: "object", list: "array",
            bytes: "bytes"}.get(type(value), type(value).__name__)


def _factory(conf: list[dict[str, Any] | None], ctx: Any) -> SwitchProcessor:
    cases: list[Case] = []
    for number, case in enumerate(conf):
        if case is None:
            continue
        check = None
        if case["check"]:
            try:
                check = compile_query(case["check"])
            except BloblangError as exc:
                raise ValueError(f"case {number} check: {exc}") from None
        procs = [p for p in case["processors"] if p is not None]
        if not procs:
            raise ValueError(f"case {number} has no processors; for a case that does nothing use a "
                             "`noop` processor or leave the case out")
        cases.append(Case(check, ctx.build_processors(procs), case["fallthrough"]))
    return SwitchProcessor(cases)


register(s.ComponentSpec(
    name="switch", kind="processor", category="composition",
    summary="Conditionally processes messages based on their contents.",
    description=(
        "For each case a Bloblang query (`check`) is tested against each message and, if it returns true "
        "(or the check is empty), the case's processors are applied to the message, and no later case is "
        "tested for it. A message that matches no case passes on unchanged.\n\n"
        "With `fallthrough: true`, messages that pass a case (after its processors) also go through the "
        "next case's processors, without testing its check.\n\n"
        "If a check fails to evaluate (or returns something other than a boolean) the message is flagged "
        "as errored (see `catch`) and is not tested against any other case.\n\n"
        "### Batching\n\n"
        "The messages of a batch are checked one by one and may match different cases; the messages that "
        "match a case go through its processors together, as one batch. The resulting batch keeps the "
        "order in which the messages arrived; messages split by a case's processors stay together at the "
        "place of the message they came from. The result of a switch is always a single batch."
    ),
    config=s.Field("switch", "object", "The cases, tried in order.", kind="list", children=[
        s.string("check", "A Bloblang query that returns a boolean: whether the message should go through "
                 "this case's processors. Empty means the case always passes. If the check fails the message "
                 "is flagged as errored and not tested against any other case.", "",
                 examples=('this.type == "foo"', 'this.contents.urls.contains("https://example.com/")'), bloblang="query"),
        s.Field("processors", "processor", "The processors applied to messages that pass this case.",
                default=[], kind="list"),
        s.boolean("fallthrough", "Whether messages that pass this case also go through the next case's "
                  "processors (without testing its check).", False, advanced=True),
    ]),
    factory=_factory,
    examples=(
        "pipeline:\n  processors:\n    - switch:\n        - check: this.user.name.first != \"George\"\n"
        "          processors:\n            - mapping: 'root.cared_about = true'\n"
        "        - processors:\n            - log:\n                message: 'dropping a message from George'\n"
        "            - mapping: root = deleted()",
    ),
))
