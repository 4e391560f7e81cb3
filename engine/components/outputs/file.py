"""The `file` output: messages written to files on disk, the path interpolated per message."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, Callable

from ... import spec as s
from ...component import Output
from ...message import Batch, LineBatch, Message, as_messages
from ...registry import register
from ..codec import Codec

# Writes up to this size run on the event loop (a page-cache copy); bigger ones in a thread.
INLINE_WRITE_MAX = 1 << 18
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class FileOutput(Output):
    def __init__(self, conf: dict[str, Any]) -> None:
        from ...bloblang import ParseError, compile_interpolation

        try:
            self.path = compile_interpolation(conf["path"])
        except ParseError as exc:
            raise ValueError(f"path: line {exc.line} column {exc.column}: {exc.explanation}") from None
        codec = conf["codec"]
        self.whole_file = codec == "all-bytes"
        self._codec = None if codec in ("append", "all-bytes") else Codec(codec)
        # Bento keeps one file open at a time, appending; a new path closes the previous one.
        self._fd: int | None = None
        self._fd_path = ""
        self._lock = asyncio.Lock()
        # A LineBatch is already framed as `lines` writes it (no payload holds a newline).
        self.takes_lines = self.path.is_static and codec == "lines"

    # -- framing -------------------------------------------------------------
    def _frame(self, payloads: list[bytes]) -> bytes:
        if self._codec is None:
            return b"".join(payloads)
        return self._codec.frame(payloads)

    def _target(self, msg: Message | None, batch: Batch, index: int) -> str:
        path = self.path.render(msg, batch, index)
        if not path:
            raise ValueError("path: the interpolated path is empty")
        return os.path.normpath(path)

    # -- writing -------------------------------------------------------------
    async def write(self, batch: Batch | LineBatch) -> None:
        jobs: list[tuple[int, Callable[[], None]]] = []
        if type(batch) is LineBatch and self.takes_lines:
            path = self._target(None, [], 0)
            jobs.append((len(batch.data), functools.partial(self._append, path, batch.data)))
        else:
            batch = as_messages(batch)
            if self.path.is_static:
                groups: dict[str, list[Message]] = {self._target(batch[0], batch, 0): batch} if batch else {}
            else:
                groups = {}
                for index, msg in enumerate(batch):
                    groups.setdefault(self._target(msg, batch, index), []).append(msg)
            for path, msgs in groups.items():
                if self.whole_file:
                    # Each message is the whole file: the last one written is what stays.
                    contents = [m.raw for m in msgs]
                    jobs.append((sum(len(c) for c in contents), functools.partial(self._replace_all, path, contents)))
                else:
                    data = self._frame([m.raw for m in msgs])
                    jobs.append((len(data), functools.partial(self._append, path, data)))
        loop = asyncio.get_running_loop()
        async with self._lock:
            for size, job in jobs:
                if size <= INLINE_WRITE_MAX:
                    job()
                    continue
                running = loop.run_in_executor(None, job)
                try:
                    await asyncio.shield(running)
                except asyncio.CancelledError:
                    await asyncio.wait((running,))  # never release the lock with a write still running
                    raise

    def _append(self, path: str, data: bytes) -> None:
        if self._fd is None or self._fd_path != path:
            self._close_fd()
            _make_parent(path)
            self._fd = os.open(path, _OPEN_FLAGS | os.O_APPEND, 0o666)
            self._fd_path = path
        try:
            _write_all(self._fd, data)
        except OSError:
            self._close_fd()
            raise

    def _replace_all(self, path: str, contents: list[bytes]) -> None:
        if self._fd_path == path:
            self._close_fd()
        _make_parent(path)
        for data in contents:
            fd = os.open(path, _OPEN_FLAGS | os.O_TRUNC, 0o666)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._fd_path = self._fd, None, ""
            try:
                os.close(fd)
            except OSError:
                pass

    async def close(self) -> None:
        async with self._lock:
            self._close_fd()


def _make_parent(path: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


register(s.ComponentSpec(
    name="file", kind="output", category="local",
    summary="Writes messages to files on disk, one per line by default.",
    description="The path is interpolated per message, so messages can go to different files; missing parent "
                "directories are created. With `lines`, `delim:X` and `append` messages are appended to the "
                "file (a message that already ends with the delimiter gets no second one); with `all-bytes` "
                "each message replaces the whole content of its file. A batch is written with one write per "
                "file. A failed write (permission denied, a directory in the way, a full disk) fails the "
                "delivery, so the messages are sent again.",
    config=s.obj(
        "file", "",
        s.string("path", "The file to write to; created if it does not exist.", interpolated=True,
                 examples=("/tmp/data.txt", "/tmp/${! timestamp_unix() }.txt",
                           '/tmp/${! json("document.id") }.json')),
        s.string("codec", "How messages are written: `lines` (each followed by a newline), `delim:X` (each "
                 "followed by X), `append` (as they are, back to back) or `all-bytes` (each message is the "
                 "whole file, replacing what was there).", "lines",
                 options=("lines", "all-bytes", "append", "delim:"), examples=("lines", "delim:\\t", "all-bytes")),
    ),
    factory=lambda conf, ctx: FileOutput(conf),
    examples=('output:\n  file:\n    path: /tmp/out/${! meta("kafka_key") }.jsonl\n    codec: lines',),
))
