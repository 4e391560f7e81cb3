"""The `file` input: messages from files on disk, read in order and cut by a codec.

Files are read in chunks: with `lines` or `delim:X` at most one chunk plus the
unfinished message is held at a time, and each chunk becomes one batch.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import os
import stat
from datetime import UTC, datetime
from typing import Any

from ... import spec as s
from ...component import AckFn, EndOfInput, Input
from ...errors import ComponentError
from ...message import Batch, LineBatch, new_batch
from ...registry import register
from ..codec import CODEC_FIELD, Codec

READ_SIZE = 1 << 16
_GLOB_CHARS = frozenset("*?[")


class _FileState:
    """One file being read: its metadata and the batches of it not yet settled."""

    __slots__ = ("failed", "meta", "path", "pending", "read_done")

    def __init__(self, path: str, mtime: float) -> None:
        self.path = path
        when = datetime.fromtimestamp(mtime, UTC)
        self.meta = {"path": path, "mod_time_unix": int(mtime),
                     "mod_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.pending = 0
        self.read_done = False
        self.failed = False


class FileInput(Input):
    def __init__(self, conf: dict[str, Any]) -> None:
        self.patterns: list[str] = list(conf["paths"])
        if not self.patterns:
            raise ValueError("paths: at least one path is required")
        self.codec_name: str = conf["codec"]
        Codec(self.codec_name)  # reject an unknown codec at build time
        self.max_buffer: int = conf["max_buffer"]
        self.delete_on_finish: bool = conf["delete_on_finish"]
        # With auto_replay_nacks off we settle nacks ourselves, by dropping (Bento semantics).
        self.supports_nack = not conf["auto_replay_nacks"]
        self._queue: list[str] = []
        self._fd: int | None = None
        self._file: _FileState | None = None
        self._codec: Codec | None = None
        self._pending_read: asyncio.Future[bytes] | None = None
        self._deferred: Exception | None = None
        self._lines = False  # hand chunks of lines on as LineBatch (`pack_lines`)

    def pack_lines(self) -> bool:
        self._lines = self.codec_name == "lines"
        return self._lines

    async def connect(self) -> None:
        """Expand the globs and check every file can be read; an error names the path."""
        files: list[str] = []
        for pattern in self.patterns:
            if _GLOB_CHARS.intersection(pattern):
                matches = sorted(p for p in glob.glob(pattern, recursive=True, include_hidden=True)
                                 if os.path.isfile(p))
                if not matches:
                    raise ComponentError(self.where, f'paths: "{pattern}" matches no file')
                files.extend(matches)
            else:
                files.append(pattern)
        for path in files:
            _check_readable(path, self.where)
        self._queue = files

    async def read(self) -> tuple[Batch, AckFn]:
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        loop = asyncio.get_running_loop()
        while True:
            if self._fd is None:
                if not self._queue:
                    raise EndOfInput
                self._open(self._queue.pop(0))
            state, codec = self._file, self._codec
            assert state is not None and codec is not None
            try:
                chunk = None
                # A read cancelled half-way left its chunk in _pending_read: take that one first.
                if self._pending_read is None:
                    # What the page cache holds is copied right here; only a read that would wait
                    # for the disk goes to a thread (whose hand-back costs more than the copy).
                    chunk = _read_cached(self._fd)
                    if chunk is None:
                        self._pending_read = loop.run_in_executor(None, os.read, self._fd, READ_SIZE)
                if chunk is None:
                    chunk = await asyncio.shield(self._pending_read)
            except OSError as exc:
                self._pending_read = None
                self._close_file()
                state.failed = True
                self._finished(state)
                raise OSError(f'reading "{state.path}" failed: {exc.strerror or exc}') from None
            self._pending_read = None
            parts: list[bytes] | tuple[bytes, int]
            if chunk:
                # Reaching into the splitter: its unterminated tail is what we hold in memory.
                held = len(codec._rest) + len(chunk)
                if self._lines and held <= self.max_buffer:  # no message can be too long
                    parts = codec.feed_lines(chunk)
                else:
                    parts = codec.feed(chunk)
                    if held > self.max_buffer and codec.delimiter is not None:
                        parts = self._check_lengths(state, parts, codec)
            else:
                parts = codec.feed_lines(b"", final=True) if self._lines else codec.finish()
                self._close_file()
                state.read_done = True
            batch: Batch | LineBatch | None = None
            if type(parts) is tuple:
                if parts[1]:
                    batch = LineBatch(parts[0], parts[1], state.meta)
            elif parts:
                batch = new_batch(parts, state.meta)  # the chunk's messages share one metadata dict
            if batch is not None:
                state.pending += 1
                return batch, self._settler(state, len(batch))  # type: ignore[return-value]
            if state.read_done:
                self._finished(state)

    def _check_lengths(self, state: _FileState, parts: list[bytes], codec: Codec) -> list[bytes]:
        """Cut at the first message longer than max_buffer: the rest of that file is skipped."""
        limit = self.max_buffer
        cut = next((i for i, p in enumerate(parts) if len(p) > limit), None)
        if cut is None and len(codec._rest) <= limit:
            return parts
        self._close_file()
        state.failed = True  # partly read: never deleted
        self._finished(state)
        error = ValueError(f'"{state.path}": a message is longer than max_buffer ({limit} bytes); '
                           "the rest of the file is skipped")
        kept = parts if cut is None else parts[:cut]
        if not kept:
            raise error
        self._deferred = error  # first hand on the complete messages before it
        return kept

    def _open(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise OSError(f'cannot open "{path}": {exc.strerror or exc}') from None
        try:
            mtime = os.fstat(fd).st_mtime
        except OSError:
            mtime = 0.0
        self._fd = fd
        self._file = _FileState(path, mtime)
        self._codec = Codec(self.codec_name)
        self.log.debug("consuming from file %s", path)

    def _close_file(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass

    def _settler(self, state: _FileState, count: int) -> AckFn:
        async def settle(error: BaseException | None) -> None:
            state.pending -= 1
            if error is not None:
                state.failed = True
                self.log.warning("%s: %d message(s) not delivered and dropped (auto_replay_nacks is false): %s",
                                 state.path, count, error)
            if state.read_done:
                self._finished(state)

        return settle

    def _finished(self, state: _FileState) -> None:
        """Called when a file is read through; deletes it once every batch of it is delivered."""
        state.read_done = True
        if state.pending or state.failed or not self.delete_on_finish:
            return
        state.failed = True  # delete once only
        try:
            os.remove(state.path)
        except OSError as exc:
            self.log.error('cannot delete "%s" after reading it: %s', state.path, exc)

    async def close(self) -> None:
        pending = self._pending_read
        if pending is not None:
            # Never close the descriptor under a read still running in the executor.
            await asyncio.gather(pending, return_exceptions=True)
        self._close_file()
        self._queue = []


_NOWAIT = getattr(os, "RWF_NOWAIT", 0) if hasattr(os, "preadv") else 0


def _read_cached(fd: int) -> bytes | None:
    """Up to READ_SIZE bytes at the file position when the page cache already holds them (Linux
    preadv2 with RWF_NOWAIT never waits for the disk); None when it would, or cannot tell."""
    if not _NOWAIT:
        return None
    buf = bytearray(READ_SIZE)
    try:
        size = os.preadv(fd, [buf], -1, _NOWAIT)  # offset -1: at (and moving) the file position
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ESPIPE, errno.ENOSYS):
            return None  # a file system or file type without RWF_NOWAIT: read in a thread
        raise
    return bytes(memoryview(buf)[:size])


def _check_readable(path: str, where: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ComponentError(where, f'paths: "{path}" does not exist') from None
    except OSError as exc:
        raise ComponentError(where, f'paths: cannot read "{path}": {exc.strerror or exc}') from None
    if stat.S_ISDIR(info.st_mode):
        raise ComponentError(where, f'paths: "{path}" is a directory (use a glob such as "{path}/*")')
    if not os.access(path, os.R_OK):
        raise ComponentError(where, f'paths: cannot read "{path}": permission denied')


register(s.ComponentSpec(
    name="file", kind="input", category="local",
    summary="Reads messages from files on disk, one per line by default.",
    description="The files are read one after the other, in the order given (the matches of a glob in "
                "lexical order); the input ends after the last one. A path that does not exist, cannot be "
                "read, or a glob that matches nothing stops the stream at start-up with an error naming it.\n\n"
                "Every message carries the metadata `path`, `mod_time_unix` and `mod_time` (RFC 3339, UTC).\n\n"
                "Files are read in chunks of 64 KiB: with the `lines` and `delim:X` codecs memory holds one "
                "chunk and the unfinished message, and each chunk becomes one batch.",
    config=s.obj(
        "file", "",
        s.Field("paths", "string", "Paths to read, in order. Glob patterns are supported, including `**`.",
                kind="list", examples=(["./data/*.csv"], ["/var/log/app.log", "/var/log/app.log.1"])),
        CODEC_FIELD,
        s.integer("max_buffer", "The longest message, in bytes, the `lines`/`delim:X` codecs accept; the rest "
                  "of a file holding a longer one is skipped with an error.", 1000000, advanced=True),
        s.boolean("delete_on_finish", "Delete each file once it was read through and all of its messages "
                  "were delivered.", False, advanced=True),
        s.boolean("auto_replay_nacks", "Re-send messages the output could not deliver, until they are "
                  "delivered. When false such messages are dropped.", True),
        s.unsupported("scanner", "Bento scanners; use `codec` instead."),
    ),
    factory=lambda conf, ctx: FileInput(conf),
    examples=("input:\n  file:\n    paths: [ ./data/*.jsonl ]\n    codec: lines",),
))
