"""The `stdout` output: each message written to standard output, framed by a codec."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register
from ..codec import CODEC_FIELD, Codec


class StdoutOutput(Output):
    def __init__(self, conf: dict[str, Any], stream: BinaryIO | None = None) -> None:
        self.codec = Codec(conf["codec"])
        self.stream = stream

    async def connect(self) -> None:
        if self.stream is None:
            self.stream = sys.stdout.buffer

    async def write(self, batch: Batch) -> None:
        assert self.stream is not None
        # One write per batch: a blocking write on a pipe is bounded by the batch, not per message.
        self.stream.write(self.codec.frame([m.raw for m in batch]))
        self.stream.flush()


register(s.ComponentSpec(
    name="stdout", kind="output", category="local",
    summary="Writes messages to standard output, one per line by default.",
    config=s.obj("stdout", "", CODEC_FIELD, default={}, allow_scalar=True),
    factory=lambda conf, ctx: StdoutOutput(conf),
    examples=("output:\n  stdout: {}",),
))
