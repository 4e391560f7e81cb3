"""The `stdin` input: messages from standard input, cut by a codec."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ... import spec as s
from ...component import AckFn, EndOfInput, Input, noop_ack
from ...message import Batch, Message
from ...registry import register
from ..codec import CODEC_FIELD, Codec

READ_SIZE = 1 << 16


class StdinInput(Input):
    def __init__(self, conf: dict[str, Any], stream: Any = None) -> None:
        self.codec = Codec(conf["codec"])
        self.max_buffer = conf["max_buffer"]
        self._stream = stream  # an asyncio.StreamReader, for tests; stdin otherwise
        self._pending: list[bytes] = []
        self._ended = False

    async def connect(self) -> None:
        if self._stream is None:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=self.max_buffer)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
            self._stream = reader

    async def read(self) -> tuple[Batch, AckFn]:
        while True:
            if self._ended:
                raise EndOfInput
            chunk = await self._stream.read(READ_SIZE)
            if not chunk:
                self._ended = True
                parts = self.codec.finish()
            else:
                parts = self.codec.feed(chunk)
            if parts:
                return [Message(p) for p in parts], noop_ack


register(s.ComponentSpec(
    name="stdin", kind="input", category="local",
    summary="Reads messages from standard input, one per line by default.",
    description="Ends when standard input closes; `asyncgate run` then exits once everything read is delivered.",
    config=s.obj("stdin", "", CODEC_FIELD,
                 s.integer("max_buffer", "Largest message, in bytes.", 1 << 20, advanced=True),
                 default={}, allow_scalar=True),
    factory=lambda conf, ctx: StdinInput(conf),
    examples=("input:\n  stdin: {}",),
))
