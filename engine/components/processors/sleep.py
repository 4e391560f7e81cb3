"""The `sleep` processor: waits for a (possibly per-message) duration for each message."""

from __future__ import annotations

import asyncio

from ... import spec as s
from ...bloblang import BloblangError, compile_interpolation
from ...component import Processor, mark_error
from ...config.durations import parse_duration
from ...message import Batch
from ...registry import register


class SleepProcessor(Processor):
    def __init__(self, duration: str) -> None:
        try:
            self.duration = compile_interpolation(duration)
        except BloblangError as exc:
            raise ValueError(f"duration: {exc}") from None
        self.static: float | None = None
        if self.duration.is_static:
            # A fixed duration is checked once, when the stream is built.
            self.static = parse_duration(self.duration.render(None))

    async def process_batch(self, batch: Batch) -> Batch:
        # As in Bento: one sleep per message of the batch, one after the other.
        if self.static is not None:
            if self.static > 0:
                await asyncio.sleep(self.static * len(batch))
            return batch
        for index, msg in enumerate(batch):
            try:
                text = self.duration.render(msg, batch, index)
                seconds = parse_duration(text)
            except Exception as exc:  # noqa: BLE001 - a bad duration flags the message, never kills the stream
                self.log.error("sleep: %s", exc)
                mark_error(msg, self, f"sleep duration: {exc}")
                continue
            if seconds > 0:
                await asyncio.sleep(seconds)
        return batch


register(s.ComponentSpec(
    name="sleep", kind="processor", category="utility",
    summary="Sleeps for a period of time, given as a duration string, for each message.",
    description=(
        "The `duration` field supports interpolation functions, so each message can name its own delay "
        "(for example from its metadata). The messages of a batch are slept for one after the other, so a "
        "batch of N messages with `duration: 1s` takes N seconds. While it sleeps the stream slows down; "
        "nothing is dropped.\n\n"
        "A fixed duration that does not parse is a config error. An interpolated duration that does not "
        "evaluate to a valid duration for a message (e.g. `\"soon\"`) is logged and that message is flagged "
        "as errored (see `catch`); the message is not slept for and continues."
    ),
    config=s.obj(
        "sleep", "",
        s.string("duration", "The duration of time to sleep for each message (Go duration syntax: `500ms`, "
                 "`1m30s`).", interpolated=True, examples=("1s", "200ms", '${! meta("sleep_for") }')),
    ),
    factory=lambda conf, ctx: SleepProcessor(conf["duration"]),
    examples=("pipeline:\n  processors:\n    - sleep:\n        duration: 500ms",),
))
